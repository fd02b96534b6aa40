//! How requests reach the service: an Application Load Balancer, or Amazon API
//! Gateway (a REST API whose proxy resource forwards over a VPC link to an
//! internal Network Load Balancer in front of the tasks).

use serde_json::{json, Map, Value};

use super::network::Network;
use super::{attribute, reference};
use crate::naming::StageNames;

/// Where the service listens and is checked.
pub(super) struct Target<'a> {
    pub port: u16,
    pub health_path: &'a str,
}

pub(super) fn add_load_balancer(
    resources: &mut Map<String, Value>,
    outputs: &mut Map<String, Value>,
    network: &Network,
    target: &Target,
) {
    resources.insert(
        "LoadBalancerSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "HTTP from anywhere to the load balancer",
                "VpcId": network.vpc(),
                "SecurityGroupIngress": [{ "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0" }],
            }
        }),
    );
    let mut load_balancer = json!({
        "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Properties": {
            "Type": "application",
            "Scheme": "internet-facing",
            "Subnets": network.subnets(),
            "SecurityGroups": [attribute("LoadBalancerSecurityGroup", "GroupId")],
        }
    });
    if let Some(ready) = network.internet_ready() {
        load_balancer["DependsOn"] = json!(ready);
    }
    resources.insert("LoadBalancer".into(), load_balancer);
    add_target_group_and_listener(resources, network, target, "HTTP");
    outputs.insert(
        super::OUTPUT_SERVICE_URL.into(),
        json!({ "Value": { "Fn::Sub": "http://${LoadBalancer.DNSName}" } }),
    );
}

pub(super) fn add_api_gateway(
    resources: &mut Map<String, Value>,
    outputs: &mut Map<String, Value>,
    names: &StageNames,
    network: &Network,
    target: &Target,
    caching: bool,
) {
    resources.insert(
        "LoadBalancer".into(),
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": { "Type": "network", "Scheme": "internal", "Subnets": network.subnets() }
        }),
    );
    add_target_group_and_listener(resources, network, target, "TCP");
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
    let mut methods = vec![
        (
            "ApiRootMethod".to_owned(),
            proxy_method(attribute("RestApi", "RootResourceId"), false, "ANY"),
        ),
        (
            "ApiProxyMethod".to_owned(),
            proxy_method(reference("ApiProxyResource"), true, "ANY"),
        ),
    ];
    if caching {
        // Only reads are cached: GET and HEAD get methods of their own (they
        // take precedence over ANY), keyed by their full path.
        for verb in CACHED_METHODS {
            let word = if verb == "GET" { "Get" } else { "Head" };
            methods.push((
                format!("ApiRoot{word}"),
                proxy_method(attribute("RestApi", "RootResourceId"), false, verb),
            ));
            methods.push((
                format!("ApiProxy{word}"),
                proxy_method(reference("ApiProxyResource"), true, verb),
            ));
        }
    }
    let method_ids: Vec<&str> = methods.iter().map(|(id, _)| id.as_str()).collect();
    // Logical ids sort methods before the deployment: an engine that creates
    // resources in key order and ignores DependsOn (moto) still finds them.
    resources.insert(
        "ApiStageDeployment".into(),
        json!({
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": method_ids,
            "Properties": { "RestApiId": reference("RestApi") }
        }),
    );
    for (id, method) in methods {
        resources.insert(id, method);
    }
    let mut stage = json!({
        "RestApiId": reference("RestApi"),
        "DeploymentId": reference("ApiStageDeployment"),
        "StageName": names.stage(),
        "CacheClusterEnabled": caching,
    });
    if caching {
        stage["CacheClusterSize"] = json!("0.5");
        let mut settings = vec![json!({
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "CachingEnabled": false,
        })];
        settings.extend(CACHED_METHODS.iter().map(|verb| {
            json!({
                "ResourcePath": "/*",
                "HttpMethod": verb,
                "CachingEnabled": true,
                "CacheTtlInSeconds": 300,
            })
        }));
        stage["MethodSettings"] = json!(settings);
    }
    resources.insert(
        "ApiStage".into(),
        json!({ "Type": "AWS::ApiGateway::Stage", "Properties": stage }),
    );
    outputs.insert(
        super::OUTPUT_SERVICE_URL.into(),
        json!({ "Value": { "Fn::Sub": format!(
            "https://${{RestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{}", names.stage()
        ) } }),
    );
}

/// The methods whose responses are cached when caching is on: reads only.
const CACHED_METHODS: [&str; 2] = ["GET", "HEAD"];

/// `verb` on `resource`, forwarded as is (HTTP_PROXY) over the VPC link. A
/// cached method's cache key is its path (`{proxy}`).
fn proxy_method(resource: Value, with_path: bool, verb: &str) -> Value {
    let (uri, method_parameters, integration_parameters) = if with_path {
        (
            "http://${LoadBalancer.DNSName}/{proxy}",
            json!({ "method.request.path.proxy": true }),
            json!({ "integration.request.path.proxy": "method.request.path.proxy" }),
        )
    } else {
        ("http://${LoadBalancer.DNSName}/", json!({}), json!({}))
    };
    let mut integration = json!({
        "Type": "HTTP_PROXY",
        "IntegrationHttpMethod": verb,
        "ConnectionType": "VPC_LINK",
        "ConnectionId": reference("VpcLink"),
        "Uri": { "Fn::Sub": uri },
        "RequestParameters": integration_parameters,
    });
    if with_path && CACHED_METHODS.contains(&verb) {
        integration["CacheKeyParameters"] = json!(["method.request.path.proxy"]);
    }
    json!({
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": reference("RestApi"),
            "ResourceId": resource,
            "HttpMethod": verb,
            "AuthorizationType": "NONE",
            "RequestParameters": method_parameters,
            "Integration": integration,
        }
    })
}

fn add_target_group_and_listener(
    resources: &mut Map<String, Value>,
    network: &Network,
    target: &Target,
    protocol: &str,
) {
    // Both load balancers check the app over HTTP at its health path (a
    // network load balancer's TCP check would pass for an app that answers 500).
    let mut target_group = json!({
        "TargetType": "ip",
        "Port": target.port,
        "Protocol": protocol,
        "VpcId": network.vpc(),
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPath": target.health_path,
        "HealthCheckIntervalSeconds": 15,
        // Old tasks drain for 15 s instead of AWS's 300 s on every deploy.
        "TargetGroupAttributes": [
            { "Key": "deregistration_delay.timeout_seconds", "Value": "15" }
        ],
    });
    if protocol == "HTTP" {
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
