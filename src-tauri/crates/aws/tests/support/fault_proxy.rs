//! A minimal HTTP/1.1 proxy in front of moto that answers chosen requests
//! itself: the failures moto never produces (rollbacks, throttling, 500s,
//! operations that never end) reach the real SDK code paths over HTTP.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the proxy read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The API action: `Action=` of a query-protocol form body, or the
    /// operation of a JSON protocol's `X-Amz-Target` header.
    pub fn action(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        if let Some(action) = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
        {
            return action.to_owned();
        }
        self.head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("x-amz-target").then(|| {
                    value
                        .trim()
                        .rsplit('.')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
            })
            .unwrap_or_default()
    }

    /// The value of form field `key` (URL-decoded), if the body has it.
    pub fn form_field(&self, key: &str) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| v.replace("%2F", "/").replace("%3A", ":").replace('+', " "))
        })
    }

    /// The form body, for checks on what was sent.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the proxy does with a request.
pub enum Reply {
    Forward,
    /// Forward with this body instead (moto checks no signatures).
    ForwardBody(Vec<u8>),
    Respond {
        status: u16,
        body: String,
    },
    /// Close the connection without an answer (a network that went away).
    Drop,
    /// Never answer, and never pass the request on (the process dies
    /// before the call leaves it).
    Hold,
    /// Pass the request on, then never answer (AWS acted; the process dies
    /// before it hears back).
    ForwardThenHold,
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running proxy; it stops when the test's runtime ends.
pub struct FaultProxy {
    pub url: String,
    /// Every request's action, in order.
    pub actions: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free local port.
    pub async fn start(
        upstream: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let handler: Arc<Handler> = Arc::new(handler);
        let actions = Arc::new(Mutex::new(Vec::new()));
        let seen = actions.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (handler, upstream, seen) = (handler.clone(), upstream.clone(), seen.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, handler.as_ref(), &seen).await;
                });
            }
        });
        FaultProxy { url, actions }
    }

    /// How many requests of `action` went through.
    pub fn count(&self, action: &str) -> usize {
        self.actions
            .lock()
            .unwrap()
            .iter()
            .filter(|a| *a == action)
            .count()
    }
}

/// One request per connection: the reply says `Connection: close`.
async fn serve(
    mut client: TcpStream,
    upstream: &str,
    handler: &Handler,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut client).await? else {
        return Ok(());
    };
    seen.lock().unwrap().push(request.action());
    let response = match handler(&request) {
        Reply::Respond { status, body } => {
            let reason = if status < 400 { "OK" } else { "Error" };
            let content_type = if body.starts_with('{') {
                "application/x-amz-json-1.1"
            } else {
                "text/xml"
            };
            let mut out = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: proxy\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(body.as_bytes());
            out
        }
        Reply::Drop => return Ok(()),
        Reply::Hold => std::future::pending().await,
        Reply::ForwardThenHold => {
            forward(&request, upstream).await?;
            std::future::pending().await
        }
        Reply::Forward => forward(&request, upstream).await?,
        Reply::ForwardBody(body) => {
            let head: Vec<&str> = request
                .head
                .lines()
                .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
                .collect();
            let head = format!("{}\r\nContent-Length: {}", head.join("\r\n"), body.len());
            forward(&Request { head, body }, upstream).await?
        }
    };
    client.write_all(&response).await?;
    client.shutdown().await
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Ok(Some(Request { head, body }))
}

/// Sends the request to moto with `Connection: close` and returns moto's
/// response with its connection headers replaced by `Connection: close`.
async fn forward(request: &Request, upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    let head: Vec<&str> = request
        .head
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut out = format!("{}\r\nConnection: close\r\n\r\n", head.join("\r\n")).into_bytes();
    out.extend_from_slice(&request.body);
    server.write_all(&out).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    let Some(head_end) = find(&response, b"\r\n\r\n") else {
        return Ok(response);
    };
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let kept: Vec<&str> = head
        .lines()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            !lower.starts_with("connection:") && !lower.starts_with("keep-alive:")
        })
        .collect();
    let mut rewritten = format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n")).into_bytes();
    rewritten.extend_from_slice(&response[head_end + 4..]);
    Ok(rewritten)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

const CFN_NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

/// A CloudFormation query-protocol error.
pub fn cfn_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{CFN_NS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
    )
}

/// A CloudFormation response with `result` inside `<{action}Result>`.
pub fn cfn_response(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{CFN_NS}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></{action}Response>"
    )
}

/// DescribeStacks showing one stack.
pub fn described_stack(
    name: &str,
    status: &str,
    reason: &str,
    change_set: &str,
    tags: &[(&str, &str)],
) -> String {
    let tags: String = tags
        .iter()
        .map(|(k, v)| format!("<member><Key>{k}</Key><Value>{v}</Value></member>"))
        .collect();
    cfn_response(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackName>{name}</StackName>\
             <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/0000</StackId>\
             <CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>{status}</StackStatus>\
             <StackStatusReason>{reason}</StackStatusReason>\
             <ChangeSetId>arn:aws:cloudformation:us-east-1:123456789012:changeSet/{change_set}/0000</ChangeSetId>\
             <Tags>{tags}</Tags></member></Stacks>"
        ),
    )
}

/// DescribeStackEvents listing `events` (logical id, type, status, reason),
/// given oldest first (AWS lists newest first).
pub fn described_events(
    stack: &str,
    id_prefix: &str,
    events: &[(&str, &str, &str, &str)],
) -> String {
    let members: String = events
        .iter()
        .enumerate()
        .rev()
        .map(|(index, (logical, kind, status, reason))| {
            format!(
                "<member><EventId>{id_prefix}-{index}</EventId><StackName>{stack}</StackName>\
                 <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/0000</StackId>\
                 <LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{kind}</ResourceType>\
                 <Timestamp>2026-01-01T00:00:{index:02}Z</Timestamp><ResourceStatus>{status}</ResourceStatus>\
                 <ResourceStatusReason>{reason}</ResourceStatusReason></member>"
            )
        })
        .collect();
    cfn_response(
        "DescribeStackEvents",
        &format!("<StackEvents>{members}</StackEvents>"),
    )
}
