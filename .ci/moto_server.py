"""moto's server, with two gaps closed so stages behave as on AWS.

1. moto (5.x) does not delete the route tables a CloudFormation stack created
   when the stack is deleted, and then refuses to delete the stack's VPC. AWS
   deletes them. This adds that deletion.
2. moto ignores the `Type` of an `AWS::ElasticLoadBalancingV2::LoadBalancer`
   created through CloudFormation and makes every one an application load
   balancer, which then refuses the TCP listener of a network load balancer
   (the API Gateway routing's VPC link target). AWS honours `Type`.
3. moto's ECR login password (GetAuthorizationToken) is the same in every
   region, so a `docker login` to one region's registry with another region's
   password would pass. AWS's tokens work only for their own region's
   registry: here the password names its region, and the tests' docker
   stand-in refuses a login with another region's.
4. moto's ExecuteChangeSet on an update keeps the stack's parameters and
   tags of before, so a later change set that returns to those values (a
   rollback to the earlier image) is taken for "no changes" and never runs.
   AWS records what the executed change set set; so does this.

Everything else is moto unchanged; nothing here makes moto more forgiving.
Run exactly like `moto_server`: `python moto_server.py -H 127.0.0.1 -p 5055`.
"""

from base64 import b64encode
from typing import Any

from moto.ec2.models import ec2_backends
from moto.cloudformation.models import CloudFormationBackend
from moto.ecr.responses import ECRResponse
from moto.elbv2.models import FakeLoadBalancer, elbv2_backends
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


def _create_load_balancer(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
    properties = cloudformation_json["Properties"]
    return elbv2_backends[account_id][region_name].create_load_balancer(
        resource_name,
        properties.get("SecurityGroups"),
        properties.get("Subnets"),
        scheme=properties.get("Scheme", "internet-facing"),
        loadbalancer_type=properties.get("Type", "application"),
    )


FakeLoadBalancer.create_from_cloudformation_json = classmethod(_create_load_balancer)


def _authorization_token(self: Any) -> Any:
    result = _moto_authorization_token(self)
    for data in result.result["authorizationData"]:
        registry = data["proxyEndpoint"].split("//", 1)[1].split(".", 1)[0]
        password = f"{registry}-{self.region}-auth-token"
        data["authorizationToken"] = b64encode(f"AWS:{password}".encode("ascii")).decode()
    return result


_moto_authorization_token = ECRResponse.get_authorization_token
ECRResponse.get_authorization_token = _authorization_token


def _execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
    _moto_execute_change_set(self, change_set_name, stack_name)
    for change_set in self.change_sets.values():
        if change_set_name in (change_set.change_set_id, change_set.change_set_name):
            stack = self.stacks[change_set.stack_id]
            stack.parameters = change_set.parameters
            if change_set.tags:
                stack.tags = change_set.tags


_moto_execute_change_set = CloudFormationBackend.execute_change_set
CloudFormationBackend.execute_change_set = _execute_change_set

if __name__ == "__main__":
    main()
