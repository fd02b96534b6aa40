"""moto's server, with one gap closed so stage deletion behaves as on AWS.

moto (5.x) does not delete the route tables a CloudFormation stack created
when the stack is deleted, and then refuses to delete the stack's VPC. AWS
deletes them. This adds that deletion; everything else is moto unchanged.
Run exactly like `moto_server`: `python moto_server.py -H 127.0.0.1 -p 5055`.
"""

from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.route_tables import RouteTable
from moto.server import main


def _delete_route_table(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
    backend = ec2_backends[account_id][region_name]
    table = backend.route_tables.get(resource_name)
    if table is not None:
        # The stack's subnets are gone by now; their associations go with the table.
        table._associations.clear()
        backend.route_tables.pop(resource_name, None)


RouteTable.delete_from_cloudformation_json = classmethod(_delete_route_table)

if __name__ == "__main__":
    main()
