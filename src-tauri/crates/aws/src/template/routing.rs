//! How requests reach the service: an Application Load Balancer, or Amazon API
//! Gateway (a REST API whose proxy resource forwards over a VPC link to an
//! internal Network Load Balancer in front of the tasks).

use serde_json::{json, Map, Value};

use super::{attribute, network, reference};
use crate::naming::{StageNames, CONTAINER_PORT};

pub(super) fn add_load_balancer(
    resources: &mut Map<String, Value>,
    outputs: &mut Map<String, Value>,
) {
    resources.insert(
        "LoadBalancerSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "HTTP from anywhere to the load balancer",
                "VpcId": reference("Vpc"),
                "SecurityGroupIngress": [{ "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0" }],
            }
        }),
    );
    resources.insert(
        "LoadBalancer".into(),
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "DependsOn": "GatewayAttachment",
            "Properties": {
                "Type": "application",
                "Scheme": "internet-facing",
                "Subnets": network::subnet_refs(),
                "SecurityGroups": [attribute("LoadBalancerSecurityGroup", "GroupId")],
            }
        }),
    );
    add_target_group_and_listener(resources, "HTTP");
    outputs.insert(
        "ServiceUrl".into(),
        json!({ "Value": { "Fn::Sub": "http://${LoadBalancer.DNSName}" } }),
    );
}

pub(super) fn add_api_gateway(
    resources: &mut Map<String, Value>,
    outputs: &mut Map<String, Value>,
    names: &StageNames,
    caching: bool,
) {
    resources.insert(
        "LoadBalancer".into(),
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": { "Type": "network", "Scheme": "internal", "Subnets": network::subnet_refs() }
        }),
    );
    add_target_group_and_listener(resources, "TCP");
    resources.insert(
        "VpcLink".into(),
        json!({
            "Type": "AWS::ApiGateway::VpcLink",
            "Properties": { "Name": names.cloudformation_stack(), "TargetArns": [reference("LoadBalancer")] }
        }),
    );
    resources.insert(
        "RestApi".into(),
        json!({
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": names.cloudformation_stack(),
                "EndpointConfiguration": { "Types": ["REGIONAL"] },
            }
        }),
    );
    resources.insert(
        "ApiProxyResource".into(),
        json!({
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": reference("RestApi"),
                "ParentId": attribute("RestApi", "RootResourceId"),
                "PathPart": "{proxy+}",
            }
        }),
    );
    resources.insert(
        "ApiRootMethod".into(),
        proxy_method(attribute("RestApi", "RootResourceId"), false),
    );
    resources.insert(
        "ApiProxyMethod".into(),
        proxy_method(reference("ApiProxyResource"), true),
    );
    // Logical ids sort methods before the deployment: an engine that creates
    // resources in key order and ignores DependsOn (moto) still finds them.
    resources.insert(
        "ApiStageDeployment".into(),
        json!({
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["ApiRootMethod", "ApiProxyMethod"],
            "Properties": { "RestApiId": reference("RestApi") }
        }),
    );
    let mut stage = json!({
        "RestApiId": reference("RestApi"),
        "DeploymentId": reference("ApiStageDeployment"),
        "StageName": names.stage(),
        "CacheClusterEnabled": caching,
    });
    if caching {
        stage["CacheClusterSize"] = json!("0.5");
        stage["MethodSettings"] = json!([{
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "CachingEnabled": true,
            "CacheTtlInSeconds": 300,
        }]);
    }
    resources.insert(
        "ApiStage".into(),
        json!({ "Type": "AWS::ApiGateway::Stage", "Properties": stage }),
    );
    outputs.insert(
        "ServiceUrl".into(),
        json!({ "Value": { "Fn::Sub": format!(
            "https://${{RestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{}", names.stage()
        ) } }),
    );
}

/// `ANY` on `resource`, forwarded as is (HTTP_PROXY) over the VPC link.
fn proxy_method(resource: Value, with_path: bool) -> Value {
    let (uri, method_parameters, integration_parameters) = if with_path {
        (
            "http://${LoadBalancer.DNSName}/{proxy}",
            json!({ "method.request.path.proxy": true }),
            json!({ "integration.request.path.proxy": "method.request.path.proxy" }),
        )
    } else {
        ("http://${LoadBalancer.DNSName}/", json!({}), json!({}))
    };
    json!({
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": reference("RestApi"),
            "ResourceId": resource,
            "HttpMethod": "ANY",
            "AuthorizationType": "NONE",
            "RequestParameters": method_parameters,
            "Integration": {
                "Type": "HTTP_PROXY",
                "IntegrationHttpMethod": "ANY",
                "ConnectionType": "VPC_LINK",
                "ConnectionId": reference("VpcLink"),
                "Uri": { "Fn::Sub": uri },
                "RequestParameters": integration_parameters,
            },
        }
    })
}

fn add_target_group_and_listener(resources: &mut Map<String, Value>, protocol: &str) {
    let mut target_group = json!({
        "TargetType": "ip",
        "Port": CONTAINER_PORT,
        "Protocol": protocol,
        "VpcId": reference("Vpc"),
        "HealthCheckIntervalSeconds": 15,
    });
    if protocol == "HTTP" {
        target_group["HealthCheckPath"] = json!("/");
        target_group["Matcher"] = json!({ "HttpCode": "200-399" });
    }
    resources.insert(
        "TargetGroup".into(),
        json!({ "Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": target_group }),
    );
    resources.insert(
        "Listener".into(),
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": reference("LoadBalancer"),
                "Port": 80,
                "Protocol": protocol,
                "DefaultActions": [{ "Type": "forward", "TargetGroupArn": reference("TargetGroup") }],
            }
        }),
    );
}
