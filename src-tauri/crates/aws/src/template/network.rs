//! A VPC with two public subnets in two availability zones, an internet
//! gateway and its route, and the service's security group. Public subnets
//! let Fargate tasks pull images without a NAT gateway (no hourly cost).

use serde_json::{json, Map, Value};

use super::{attribute, reference};
use crate::naming::{StageNames, CONTAINER_PORT};

/// The VPC's address range; the load balancer reaches tasks from inside it.
pub const VPC_CIDR: &str = "10.0.0.0/16";

/// The subnets' logical ids.
pub const SUBNETS: [&str; 2] = ["SubnetA", "SubnetB"];

pub(super) fn add(resources: &mut Map<String, Value>, names: &StageNames) {
    let label = names.cloudformation_stack();
    resources.insert(
        "Vpc".into(),
        json!({
            "Type": "AWS::EC2::VPC",
            "Properties": {
                "CidrBlock": VPC_CIDR,
                "EnableDnsSupport": true,
                "EnableDnsHostnames": true,
                "Tags": [{ "Key": "Name", "Value": label }],
            }
        }),
    );
    resources.insert(
        "InternetGateway".into(),
        json!({ "Type": "AWS::EC2::InternetGateway" }),
    );
    resources.insert(
        "GatewayAttachment".into(),
        json!({
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": { "VpcId": reference("Vpc"), "InternetGatewayId": reference("InternetGateway") }
        }),
    );
    resources.insert(
        "RouteTable".into(),
        json!({ "Type": "AWS::EC2::RouteTable", "Properties": { "VpcId": reference("Vpc") } }),
    );
    resources.insert(
        "InternetRoute".into(),
        json!({
            "Type": "AWS::EC2::Route",
            "DependsOn": "GatewayAttachment",
            "Properties": {
                "RouteTableId": reference("RouteTable"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": reference("InternetGateway"),
            }
        }),
    );
    for (index, subnet) in SUBNETS.iter().enumerate() {
        resources.insert(
            (*subnet).into(),
            json!({
                "Type": "AWS::EC2::Subnet",
                "Properties": {
                    "VpcId": reference("Vpc"),
                    "CidrBlock": format!("10.0.{index}.0/24"),
                    "AvailabilityZone": { "Fn::Select": [index, { "Fn::GetAZs": "" }] },
                    "MapPublicIpOnLaunch": true,
                    "Tags": [{ "Key": "Name", "Value": format!("{label}-{}", index + 1) }],
                }
            }),
        );
        resources.insert(
            format!("{subnet}Routes"),
            json!({
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Properties": { "SubnetId": reference(subnet), "RouteTableId": reference("RouteTable") }
            }),
        );
    }
    resources.insert(
        "ServiceSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": format!("Tasks of {label}: the app port, from inside the VPC only"),
                "VpcId": reference("Vpc"),
                "SecurityGroupIngress": [{
                    "IpProtocol": "tcp",
                    "FromPort": CONTAINER_PORT,
                    "ToPort": CONTAINER_PORT,
                    "CidrIp": VPC_CIDR,
                }],
            }
        }),
    );
}

/// The subnets, as a list of references.
pub(super) fn subnet_refs() -> Value {
    Value::Array(SUBNETS.iter().map(|s| reference(s)).collect())
}

/// The service security group's id.
pub(super) fn service_security_group() -> Value {
    attribute("ServiceSecurityGroup", "GroupId")
}
