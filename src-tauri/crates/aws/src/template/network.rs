//! Where the stage's tasks and load balancer live: a VPC of the stage's own
//! (two public subnets in two availability zones, an internet gateway and its
//! route — public subnets let Fargate tasks pull images without a NAT
//! gateway's hourly cost), or, for a stage whose database is an existing RDS
//! instance, that instance's VPC and subnets (so the tasks can reach it).
//! Either way the service's security group opens the app port to private
//! addresses only.

use serde_json::{json, Map, Value};

use super::{attribute, reference};
use crate::naming::StageNames;

/// The own VPC's address range; the load balancer reaches tasks from inside it.
pub const VPC_CIDR: &str = "10.0.0.0/16";

/// The own VPC's subnets' logical ids.
pub const SUBNETS: [&str; 2] = ["SubnetA", "SubnetB"];

/// Parameters of a stage placed in an existing database's VPC (looked up by the deployer).
pub const PARAM_VPC_ID: &str = "VpcId";
/// See [`PARAM_VPC_ID`].
pub const PARAM_SUBNET_IDS: &str = "SubnetIds";

/// The private address ranges (RFC 1918) the app port is open to in a VPC
/// whose range the template cannot know: load balancers and VPC links reach
/// tasks from inside it, the internet never does.
const PRIVATE_RANGES: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// The stage's network, as the other resources refer to it.
pub(super) struct Network {
    own: bool,
}

impl Network {
    /// A VPC of the stage's own.
    pub fn own() -> Self {
        Network { own: true }
    }

    /// The VPC and subnets of an existing database, given as parameters.
    pub fn existing(parameters: &mut Map<String, Value>) -> Self {
        parameters.insert(
            PARAM_VPC_ID.into(),
            json!({ "Type": "AWS::EC2::VPC::Id", "Description": "The VPC of the stage's existing database." }),
        );
        parameters.insert(
            PARAM_SUBNET_IDS.into(),
            json!({ "Type": "List<AWS::EC2::Subnet::Id>", "Description": "The subnets of the existing database's subnet group." }),
        );
        Network { own: false }
    }

    /// The VPC's id.
    pub fn vpc(&self) -> Value {
        if self.own {
            reference("Vpc")
        } else {
            reference(PARAM_VPC_ID)
        }
    }

    /// The subnets, as a list.
    pub fn subnets(&self) -> Value {
        if self.own {
            Value::Array(SUBNETS.iter().map(|s| reference(s)).collect())
        } else {
            reference(PARAM_SUBNET_IDS)
        }
    }

    /// What an internet-facing resource must wait for in the own VPC.
    pub fn internet_ready(&self) -> Option<&'static str> {
        self.own.then_some("GatewayAttachment")
    }

    /// The service security group's id.
    pub fn service_security_group(&self) -> Value {
        attribute("ServiceSecurityGroup", "GroupId")
    }

    pub fn add(&self, resources: &mut Map<String, Value>, names: &StageNames, port: u16) {
        let label = names.cloudformation_stack();
        let sources: Vec<&str> = if self.own {
            add_own_vpc(resources, &label);
            vec![VPC_CIDR]
        } else {
            PRIVATE_RANGES.to_vec()
        };
        let ingress: Vec<Value> = sources
            .iter()
            .map(|cidr| json!({ "IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIp": cidr }))
            .collect();
        resources.insert(
            "ServiceSecurityGroup".into(),
            json!({
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": format!("Tasks of {label}: the app port, from private addresses only"),
                    "VpcId": self.vpc(),
                    "SecurityGroupIngress": ingress,
                }
            }),
        );
    }
}

fn add_own_vpc(resources: &mut Map<String, Value>, label: &str) {
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
}
