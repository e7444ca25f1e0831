//! The EC2 calls of the EFS step (subnets, security groups), as signed requests of EC2's Query
//! API instead of the `aws-sdk-ec2` crate.
//!
//! Why: `aws-sdk-ec2` is generated code for all of EC2's operations, for the five berth makes.
//! It was the largest unit of a cold build (186 of the 1,069 CPU-seconds of berth's test build,
//! unoptimised), and without it the stripped Windows release binary went from 116 to 75 MB.
//! What stays the SDK's own: the configuration and credential chain (`aws-config`: environment,
//! profiles, SSO, web identity, container and instance roles), the region, `AWS_ENDPOINT_URL`,
//! and the request signing (`aws-sigv4`, the SDK's signer). What is here: the form-encoded
//! request of each action (API version 2016-11-15), the HTTPS client (hyper with rustls, as
//! kube's), a small reader of EC2's XML answers and its `<Errors>`, `NextToken` paging, and
//! retries of throttling, 5xx and connection errors.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// EC2's Query API version.
const VERSION: &str = "2016-11-15";

/// A filter of a Describe call: `Name` and its values.
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Filter {
        Filter {
            name: name.into(),
            values: vec![value.into()],
        }
    }

    /// Resources tagged `key=value`.
    pub fn tag(key: &str, value: &str) -> Filter {
        Filter::new(format!("tag:{key}"), value)
    }
}

/// A subnet, as DescribeSubnets answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub vpc: String,
    pub zone: String,
    pub tag_keys: Vec<String>,
}

/// A security group, as DescribeSecurityGroups answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub rules: Vec<Rule>,
}

/// An ingress rule of a security group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// The security groups it lets in.
    pub groups: Vec<String>,
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// An EC2 client of one region.
pub struct Ec2 {
    config: SdkConfig,
    region: String,
    endpoint: String,
    http: Client<Https, Full<Bytes>>,
}

impl Ec2 {
    /// A client with `config`'s region, credentials and endpoint.
    pub fn new(config: &SdkConfig) -> Result<Ec2, String> {
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or("no AWS region: set `cluster.region`, AWS_REGION or a profile's region")?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2")
            .ok()
            .or_else(|| config.endpoint_url().map(str::to_string))
            .unwrap_or_else(|| default_endpoint(&region));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot read the system's certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Ec2 {
            config: config.clone(),
            region,
            endpoint: endpoint.trim_end_matches('/').to_string() + "/",
            http: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The subnets matching every filter.
    pub async fn describe_subnets(&self, filters: &[Filter]) -> Result<Vec<Subnet>, String> {
        let mut out = Vec::new();
        self.paged("DescribeSubnets", filter_params(filters), |doc| {
            for s in doc
                .path(&["subnetSet"])
                .map(Node::items)
                .unwrap_or_default()
            {
                out.push(Subnet {
                    id: s.text_of("subnetId"),
                    vpc: s.text_of("vpcId"),
                    zone: s.text_of("availabilityZone"),
                    tag_keys: s
                        .path(&["tagSet"])
                        .map(Node::items)
                        .unwrap_or_default()
                        .iter()
                        .map(|t| t.text_of("key"))
                        .collect(),
                });
            }
        })
        .await?;
        Ok(out)
    }

    /// The security groups matching every filter (and, when given, with these ids).
    pub async fn describe_security_groups(
        &self,
        filters: &[Filter],
        ids: &[&str],
    ) -> Result<Vec<SecurityGroup>, String> {
        let mut params = filter_params(filters);
        for (i, id) in ids.iter().enumerate() {
            params.push((format!("GroupId.{}", i + 1), id.to_string()));
        }
        let mut out = Vec::new();
        self.paged("DescribeSecurityGroups", params, |doc| {
            for g in doc
                .path(&["securityGroupInfo"])
                .map(Node::items)
                .unwrap_or_default()
            {
                let rules = g
                    .path(&["ipPermissions"])
                    .map(Node::items)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| Rule {
                        protocol: p.text_of("ipProtocol"),
                        from_port: p.text_of("fromPort").parse().ok(),
                        to_port: p.text_of("toPort").parse().ok(),
                        groups: p
                            .path(&["groups"])
                            .map(Node::items)
                            .unwrap_or_default()
                            .iter()
                            .map(|pair| pair.text_of("groupId"))
                            .filter(|id| !id.is_empty())
                            .collect(),
                    })
                    .collect();
                out.push(SecurityGroup {
                    id: g.text_of("groupId"),
                    name: g.text_of("groupName"),
                    rules,
                });
            }
        })
        .await?;
        Ok(out)
    }

    /// Creates security group `name` in `vpc` with `tags`; its id.
    pub async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        vpc: &str,
        tags: &[(&str, &str)],
    ) -> Result<String, String> {
        let mut params = vec![
            ("GroupName".to_string(), name.to_string()),
            ("GroupDescription".to_string(), description.to_string()),
            ("VpcId".to_string(), vpc.to_string()),
            (
                "TagSpecification.1.ResourceType".to_string(),
                "security-group".to_string(),
            ),
        ];
        for (i, (k, v)) in tags.iter().enumerate() {
            params.push((
                format!("TagSpecification.1.Tag.{}.Key", i + 1),
                k.to_string(),
            ));
            params.push((
                format!("TagSpecification.1.Tag.{}.Value", i + 1),
                v.to_string(),
            ));
        }
        let doc = self.call("CreateSecurityGroup", &params).await?;
        let id = doc.text_of("groupId");
        if id.is_empty() {
            return Err("EC2 returned no security group id".into());
        }
        Ok(id)
    }

    /// Lets security group `from` in to `group` on TCP `port`.
    pub async fn authorize_ingress(
        &self,
        group: &str,
        port: i32,
        from: &str,
    ) -> Result<(), String> {
        let params = [
            ("GroupId", group.to_string()),
            ("IpPermissions.1.IpProtocol", "tcp".to_string()),
            ("IpPermissions.1.FromPort", port.to_string()),
            ("IpPermissions.1.ToPort", port.to_string()),
            ("IpPermissions.1.Groups.1.GroupId", from.to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v));
        self.call("AuthorizeSecurityGroupIngress", &params).await?;
        Ok(())
    }

    pub async fn delete_security_group(&self, group: &str) -> Result<(), String> {
        self.call("DeleteSecurityGroup", &[("GroupId".into(), group.into())])
            .await?;
        Ok(())
    }

    /// `action` page by page (`NextToken`), each answer given to `page`.
    async fn paged(
        &self,
        action: &str,
        params: Vec<(String, String)>,
        mut page: impl FnMut(&Node),
    ) -> Result<(), String> {
        let mut token: Option<String> = None;
        loop {
            let mut p = params.clone();
            if let Some(t) = &token {
                p.push(("NextToken".into(), t.clone()));
            }
            let doc = self.call(action, &p).await?;
            page(&doc);
            token = Some(doc.text_of("nextToken")).filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// One action, signed, retried on throttling, 5xx and connection errors (3 attempts).
    async fn call(&self, action: &str, params: &[(String, String)]) -> Result<Node, String> {
        let mut body = format!("Action={action}&Version={VERSION}");
        for (k, v) in params {
            body.push('&');
            body.push_str(&form_encode(k));
            body.push('=');
            body.push_str(&form_encode(v));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send(&body).await {
                Ok((status, text)) => {
                    let doc = Node::parse(&text);
                    if status < 300 {
                        return doc.map_err(|e| {
                            format!("{action}: EC2 answered {status} with no XML ({e})")
                        });
                    }
                    // An error's `<Code>` and `<Message>`; a 5xx from a proxy may have none.
                    let field = |name: &str| {
                        doc.as_ref()
                            .ok()
                            .and_then(|d| d.find(name))
                            .map(|n| n.text.clone())
                            .unwrap_or_default()
                    };
                    let (code, message) = (field("Code"), field("Message"));
                    let retry =
                        status >= 500 || code.contains("Throttl") || code == "RequestLimitExceeded";
                    if !retry || attempt == 3 {
                        return Err(match (code.is_empty(), message.is_empty()) {
                            (false, false) => format!("{code}: {message}"),
                            (false, true) => code,
                            _ => format!("EC2 answered HTTP {status}"),
                        });
                    }
                }
                Err(e) if attempt == 3 => return Err(e),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }

    /// POSTs the signed `body`; the status and the answer's text.
    async fn send(&self, body: &str) -> Result<(u16, String), String> {
        let credentials = self
            .config
            .credentials_provider()
            .ok_or("no AWS credentials provider")?
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {e}"))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign the EC2 request: {e}"))?
            .into();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("cannot sign the EC2 request: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("cannot sign the EC2 request: {e}"))?
            .into_parts();
        let mut request = http::Request::post(&self.endpoint)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("EC2 endpoint {}: {e}", self.endpoint))?;
        instructions.apply_to_request_http1x(&mut request);
        let response = self.http.request(request).await.map_err(|e| {
            format!(
                "cannot reach EC2 at {}: {}",
                self.endpoint,
                crate::with_cause(&e)
            )
        })?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("EC2 at {}: {e}", self.endpoint))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// EC2's endpoint in `region` (`amazonaws.com.cn` in the China regions).
fn default_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ec2.{region}.{suffix}")
}

/// `Filter.N.Name` / `Filter.N.Value.M` parameters.
fn filter_params(filters: &[Filter]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        out.push((format!("Filter.{}.Name", i + 1), f.name.clone()));
        for (j, v) in f.values.iter().enumerate() {
            out.push((format!("Filter.{}.Value.{}", i + 1, j + 1), v.clone()));
        }
    }
    out
}

/// Percent-encoding of a form value: RFC 3986's unreserved characters stay, as SigV4 wants.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An element of an XML answer: its name (without namespace prefix), text and children.
#[derive(Debug, Default)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The document's root element.
    pub fn parse(xml: &str) -> Result<Node, String> {
        use xmlparser::{ElementEnd, Token};
        let mut stack: Vec<Node> = vec![Node::default()];
        for token in xmlparser::Tokenizer::from(xml) {
            match token.map_err(|e| e.to_string())? {
                Token::ElementStart { local, .. } => stack.push(Node {
                    name: local.to_string(),
                    ..Node::default()
                }),
                Token::ElementEnd { end, .. } => match end {
                    ElementEnd::Open => {}
                    ElementEnd::Close(..) | ElementEnd::Empty => {
                        let node = stack.pop().ok_or("unbalanced XML")?;
                        stack
                            .last_mut()
                            .ok_or("unbalanced XML")?
                            .children
                            .push(node);
                    }
                },
                Token::Text { text } => {
                    if let Some(n) = stack.last_mut() {
                        n.text.push_str(&unescape(text.as_str()));
                    }
                }
                Token::Cdata { text, .. } => {
                    if let Some(n) = stack.last_mut() {
                        n.text.push_str(text.as_str());
                    }
                }
                _ => {}
            }
        }
        let mut top = stack.pop().ok_or("unbalanced XML")?;
        if !stack.is_empty() || top.children.len() != 1 {
            return Err("not one XML document".into());
        }
        let mut root = top.children.remove(0);
        root.text = root.text.trim().to_string();
        Ok(root)
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The descendant along `names`, child by child.
    pub fn path(&self, names: &[&str]) -> Option<&Node> {
        names.iter().try_fold(self, |n, name| n.child(name))
    }

    /// The `<item>` children (EC2's list members).
    pub fn items(&self) -> Vec<&Node> {
        self.children.iter().filter(|c| c.name == "item").collect()
    }

    /// The text of child `name`, trimmed; empty when there is none.
    pub fn text_of(&self, name: &str) -> String {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .unwrap_or_default()
    }

    /// The first element named `name`, depth first.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ec2_answers() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <securityGroupInfo>
    <item>
      <groupId>sg-1a2b3c4d</groupId>
      <groupName>berth-efs-c-shared</groupName>
      <ipPermissions>
        <item>
          <ipProtocol>tcp</ipProtocol><fromPort>2049</fromPort><toPort>2049</toPort>
          <groups><item><userId>123</userId><groupId>sg-nodes</groupId></item></groups>
          <ipRanges/>
        </item>
      </ipPermissions>
    </item>
  </securityGroupInfo>
  <nextToken>abc&amp;def</nextToken>
</DescribeSecurityGroupsResponse>"#;
        let doc = Node::parse(xml).unwrap();
        assert_eq!(doc.name, "DescribeSecurityGroupsResponse");
        assert_eq!(doc.text_of("nextToken"), "abc&def");
        let groups = doc.path(&["securityGroupInfo"]).unwrap().items();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].text_of("groupId"), "sg-1a2b3c4d");
        let rule = groups[0].path(&["ipPermissions"]).unwrap().items()[0];
        assert_eq!(rule.text_of("fromPort"), "2049");
        let pair = rule.path(&["groups"]).unwrap().items()[0];
        assert_eq!(pair.text_of("groupId"), "sg-nodes");
    }

    #[test]
    fn reads_errors_and_refuses_what_is_not_xml() {
        let xml = "<Response><Errors><Error><Code>InvalidGroup.NotFound</Code><Message>The security group 'sg-1' does not exist</Message></Error></Errors><RequestID>x</RequestID></Response>";
        let doc = Node::parse(xml).unwrap();
        assert_eq!(doc.find("Code").unwrap().text, "InvalidGroup.NotFound");
        assert!(Node::parse("service unavailable").is_err());
        assert!(Node::parse("<a><b></a>").is_err());
    }

    #[test]
    fn encodes_parameters_as_sigv4_wants() {
        assert_eq!(
            form_encode("tag:berth.dev/cluster"),
            "tag%3Aberth.dev%2Fcluster"
        );
        assert_eq!(form_encode("a b~c"), "a%20b~c");
        let p = filter_params(&[Filter::tag("k", "v"), Filter::new("vpc-id", "vpc-1")]);
        assert_eq!(
            p,
            [
                ("Filter.1.Name", "tag:k"),
                ("Filter.1.Value.1", "v"),
                ("Filter.2.Name", "vpc-id"),
                ("Filter.2.Value.1", "vpc-1"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            default_endpoint("us-east-1"),
            "https://ec2.us-east-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
    }
}
