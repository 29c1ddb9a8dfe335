//! Test harness: provisions the resources of `template.yaml` in moto once per test binary run
//! (unique prefix, via infra/local/provision.py), builds the real `AppState` and Router per
//! test, and drives requests through the Router as API Gateway or the dev server would.
//! Tests share the table but never data: every test makes its own users, projects and client
//! addresses, so they run in parallel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use commandcenter::api::{self, AppState};
use commandcenter::runtime::{AwsClients, Config};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub mod fake_github;

/// The environment provision.py produced (table, bucket, key, secret, endpoint), once per
/// test binary run.
pub fn provisioned() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| provision_stack("t"))
}

/// The webhook tests' stack: its table's stream carries only their writes, so a fan-out reads
/// little.
pub fn webhook_stack() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| provision_stack("w"))
}

/// Provisions the template's resources under a new prefix (`<letter><10 hex>`) in moto.
pub fn provision_stack(letter: &str) -> HashMap<String, String> {
    let endpoint = moto_url();
    let prefix = format!(
        "{letter}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let out = provision(&[
        "provision",
        "--endpoint",
        &endpoint,
        "--prefix",
        &prefix,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "provisioning against {endpoint} failed (is moto running? `make moto`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("provision.py --json prints a JSON object")
}

/// Runs infra/local/provision.py (or the command in CC_PROVISION) with `args`.
pub fn provision(args: &[&str]) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cmd = std::env::var("CC_PROVISION").unwrap_or_else(|_| {
        format!(
            "{} {}",
            root.join(".venv/bin/python").display(),
            root.join("infra/local/provision.py").display()
        )
    });
    let mut parts = cmd.split_whitespace();
    let program = parts.next().expect("CC_PROVISION is a command");
    std::process::Command::new(program)
        .args(parts)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e} (run `make venv` first)"))
}

/// Held by the tests that run whole maintenance passes or time a sweep: a pass re-sends every
/// test's due jobs and sweeps every test's deleted projects, so these run one at a time (the
/// rest of the suite still runs beside them).
pub async fn maintenance_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

pub fn moto_url() -> String {
    std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

pub struct TestApp {
    pub router: Router,
    /// The dev server's whole app (`cc_local::app`): the API plus the WebSocket gateway and
    /// `POST /_local/events/<rule>`.
    pub dev: Router,
    pub state: AppState,
    /// `ws://…/ws` when the WebSocket gateway runs (`TestApp::with_websocket`).
    pub ws_url: Option<String>,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// An app whose configuration `tweak` adjusts (e.g. a low write limit).
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::on(provisioned(), tweak).await
    }

    /// An app on resources of its own (table, queues, bucket): for tests that act on
    /// everything in the table, such as the nightly sync over every tracked repository.
    pub async fn isolated(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::on(&provision_stack("i"), tweak).await
    }

    /// An app on the webhook tests' stack (`webhook_stack`).
    pub async fn webhooks(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::on(webhook_stack(), tweak).await
    }

    /// An app on the resources `env` names (two apps on one stack: `provision_stack`).
    pub async fn on(env: &HashMap<String, String>, tweak: impl FnOnce(&mut Config)) -> Self {
        capture_logs();
        let mut config =
            Config::from_lookup(|k| env.get(k).cloned()).expect("config from provisioned env");
        config.server_timing = true;
        // Tests never reach the real GitHub: nothing listens on port 9 (a test puts its fake
        // GitHub's URL here).
        config.github_api_url = "http://127.0.0.1:9".into();
        tweak(&mut config);
        Self::build(config, &env["AWS_ENDPOINT_URL"]).await
    }

    async fn build(config: Config, endpoint: &str) -> Self {
        let aws = AwsClients::for_endpoint(endpoint).await;
        let state = AppState::build(config, aws).await.expect("state builds");
        Self {
            router: api::app(api::all_routes(), state.clone()),
            dev: cc_local::app(state.clone()),
            state,
            ws_url: None,
        }
    }

    /// An app whose WebSocket API runs on a real local port, as the dev server serves it:
    /// progress frames travel from the runner and the API through the API Gateway Management
    /// API client to the gateway, then over the socket.
    pub async fn with_websocket() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let addr = listener.local_addr().expect("bound address");
        let mut app = Self::with(|c| {
            c.websocket_url = Some(format!("ws://{addr}/ws"));
            c.websocket_management_url = Some(format!("http://{addr}/_ws"));
        })
        .await;
        let server = cc_local::app(app.state.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                server.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        app.ws_url = Some(format!("ws://{addr}/ws"));
        app
    }

    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.req(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> Req<'_> {
        self.req(Method::PATCH, path)
    }
    pub fn put(&self, path: &str) -> Req<'_> {
        self.req(Method::PUT, path)
    }
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req(Method::DELETE, path)
    }
    /// A request to the dev server's app (local-only routes such as `/_local/events/…`).
    pub fn dev_post(&self, path: &str) -> Req<'_> {
        Req {
            dev: true,
            ..self.req(Method::POST, path)
        }
    }

    /// Fires an EventBridge rule as the dev server does (`POST /_local/events/<rule>`) and
    /// returns what its target answered.
    pub async fn fire(&self, rule: &str) -> Value {
        let r = self
            .dev_post(&format!("/_local/events/{rule}"))
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["rule"], rule);
        r.body["result"].clone()
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            dev: false,
            method,
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
            ip: random_ip(),
        }
    }

    /// The state a job function builds from the same configuration.
    pub fn job_state(&self) -> commandcenter::jobs::JobState {
        commandcenter::jobs::JobState::new((*self.state.config).clone(), &self.state.aws)
            .expect("job state")
    }

    /// What the `job-<type>` function does on AWS: the queued messages of the jobs `ids`
    /// delivered to the runner as one SQS event.
    pub async fn run_jobs(
        &self,
        job_type: commandcenter::domain::jobs::JobType,
        ids: &[u64],
    ) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        use commandcenter::domain::validate::EnumValues;
        let queue = &self.state.config.queue_urls[job_type.as_str()];
        let event = receive_jobs(&self.state.aws.sqs, queue, ids).await;
        assert_eq!(
            event.records.len(),
            ids.len(),
            "every job's message arrived"
        );
        commandcenter::jobs::runner::handle_batch(
            &self.job_state(),
            job_type,
            &commandcenter::jobs::work::work_for(job_type),
            event,
        )
        .await
    }

    /// Sweeps a deleted project to the end, as the maintenance pass does (without waiting for
    /// one, and without sweeping other tests' projects); returns the items removed.
    pub async fn sweep(&self, project_id: u64) -> usize {
        let far = std::time::Instant::now() + std::time::Duration::from_secs(600);
        let swept =
            commandcenter::jobs::maintenance::sweep_project(&self.job_state(), project_id, far)
                .await
                .expect("sweep");
        assert!(swept.finished, "{swept:?}");
        swept.items
    }

    /// Writes items straight into the table, 25 per BatchWriteItem (seeding large projects).
    pub async fn seed(&self, items: Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>) {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|i| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(i.clone()))
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .collect();
            while !pending.is_empty() {
                let out = self
                    .state
                    .aws
                    .dynamodb
                    .batch_write_item()
                    .request_items(&self.state.config.table_name, pending)
                    .send()
                    .await
                    .expect("batch write");
                pending = out
                    .unprocessed_items
                    .unwrap_or_default()
                    .remove(&self.state.config.table_name)
                    .unwrap_or_default();
            }
        }
    }

    /// Registers and logs in a new user.
    pub async fn user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple".to_string();
        let r = self
            .post("/api/v1/auth/register")
            .json(json!({"email": email, "password": password, "full_name": "Test User"}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_u64().expect("user id");
        let tokens = self.login(&email, &password).await;
        TestUser {
            id,
            email,
            password,
            access: tokens["access_token"].as_str().unwrap().to_string(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let r = self
            .post("/api/v1/auth/login")
            .json(json!({"email": email, "password": password}))
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// Creates a project owned by `user`.
    pub async fn project(&self, user: &TestUser, name: &str) -> Value {
        let r = self
            .post("/api/v1/projects")
            .bearer(&user.access)
            .json(json!({"name": name, "owner": "acme"}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    /// Creates an item by POSTing `body` to `path` (in project `pid` when given), expecting 201.
    pub async fn create(
        &self,
        user: &TestUser,
        path: &str,
        pid: Option<&Value>,
        body: Value,
    ) -> Value {
        let mut req = self.post(path).bearer(&user.access).json(body);
        if let Some(pid) = pid {
            req = req.header("x-project-id", &pid.to_string());
        }
        let r = req.send().await;
        if r.status != 201 {
            let id = r.body["request_id"].as_str().unwrap_or("-").to_string();
            let logs = captured_logs();
            let line = logs
                .lines()
                .find(|l| l.contains(&id) && (l.contains("ERROR") || l.contains("WARN")))
                .unwrap_or("")
                .to_string();
            panic!("POST {path}: {} {}\n{line}", r.status, r.text);
        }
        r.body
    }

    /// Creates a repository (in `pid`, or the caller's only project); returns its id.
    pub async fn repo(&self, user: &TestUser, pid: Option<&Value>) -> u64 {
        let name = format!("r{}", uuid::Uuid::new_v4().simple());
        let body = json!({"owner": "acme", "name": name});
        let r = self.create(user, "/api/v1/repositories", pid, body).await;
        r["id"].as_u64().expect("repository id")
    }

    /// Every item stored under a project's partition.
    pub async fn partition(&self, project_id: u64) -> Vec<String> {
        let out = self
            .state
            .aws
            .dynamodb
            .query()
            .table_name(&self.state.config.table_name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("PROJECT#{project_id}")),
            )
            .send()
            .await
            .expect("query");
        out.items()
            .iter()
            .map(|i| i["sk"].as_s().unwrap().clone())
            .collect()
    }

    /// How many items a project's partition holds (counted by moto, page by page).
    pub async fn partition_count(&self, project_id: u64) -> usize {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .state
                .aws
                .dynamodb
                .query()
                .table_name(&self.state.config.table_name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("PROJECT#{project_id}")),
                )
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("query");
            count += out.count as usize;
            start = out.last_evaluated_key;
            if start.is_none() {
                return count;
            }
        }
    }

    /// Sets attributes of a user directly (superuser, inactive).
    pub async fn set_user_flag(&self, user_id: u64, attr: &str, value: bool) {
        self.state
            .aws
            .dynamodb
            .update_item()
            .table_name(&self.state.config.table_name)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user_id}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
            )
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", aws_sdk_dynamodb::types::AttributeValue::Bool(value))
            .send()
            .await
            .expect("update user");
    }
}

pub struct TestUser {
    pub id: u64,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

/// Receives the messages of `queue` naming the jobs `ids`, as Lambda would deliver them in
/// one SQS event. Messages of other tests' jobs are made visible again at once.
pub async fn receive_jobs(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    ids: &[u64],
) -> aws_lambda_events::event::sqs::SqsEvent {
    receive_where(sqs, queue, ids.len(), 20, |body| {
        ids.iter().any(|id| body["job_id"] == *id)
    })
    .await
}

/// Receives `n` messages from `queue` (a queue of an isolated app: every message is the
/// test's) as one SQS event.
pub async fn receive_all(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    n: usize,
) -> aws_lambda_events::event::sqs::SqsEvent {
    receive_where(sqs, queue, n, 40, |_| true).await
}

/// Receives until `n` messages whose JSON body `wanted` accepts are in hand (at most `polls`
/// receives); the others are made visible again at once.
pub async fn receive_where(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    n: usize,
    polls: usize,
    wanted: impl Fn(&Value) -> bool,
) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    for _ in 0..polls {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or(Value::Null);
            if wanted(&body) {
                event
                    .records
                    .push(commandcenter::queue::to_lambda_message(m));
            } else if let Some(handle) = m.receipt_handle() {
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(queue)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
        }
        if event.records.len() >= n {
            break;
        }
    }
    event
}

pub fn random_ip() -> String {
    let b: [u8; 3] = rand::random();
    format!("10.{}.{}.{}", b[0], b[1], b[2].max(1))
}

pub struct Req<'a> {
    app: &'a TestApp,
    dev: bool,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    ip: String,
}

impl Req<'_> {
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn json(mut self, v: Value) -> Self {
        self.body = Some(serde_json::to_vec(&v).unwrap());
        self.header("content-type", "application/json")
    }
    pub fn raw(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(bytes.into());
        self
    }
    pub fn ip(mut self, ip: &str) -> Self {
        self.ip = ip.to_string();
        self
    }

    pub async fn send(self) -> Resp {
        let mut b = Request::builder().method(self.method).uri(&self.path);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        let mut req = b.body(Body::from(self.body.unwrap_or_default())).unwrap();
        let addr: SocketAddr = format!("{}:40000", self.ip).parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        let router = if self.dev {
            &self.app.dev
        } else {
            &self.app.router
        };
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
            bytes: bytes.to_vec(),
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    /// The body as sent (binary exports).
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json response with this status and code; returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["status"], status);
        assert_eq!(
            self.body["type"],
            format!("urn:commandcenter:problem:{code}")
        );
        assert!(self.body["detail"].is_string());
        assert_eq!(
            self.body["request_id"].as_str(),
            self.header("x-request-id"),
            "problem request_id matches the header"
        );
        &self.body
    }

    /// The AWS call count reported in Server-Timing.
    pub fn aws_calls(&self) -> u32 {
        let st = self.header("server-timing").expect("Server-Timing header");
        let start = st.find("desc=\"").expect("desc") + 6;
        st[start..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .expect("call count")
    }
}

/// Waits until a fixed one-minute window has at least 20 s left, so a test that counts within
/// one window does not straddle two.
pub async fn fresh_minute_window() {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let left = 60 - now.rem_euclid(60);
    if left < 20 {
        tokio::time::sleep(std::time::Duration::from_secs(left as u64 + 1)).await;
    }
}

/// Sends one plain HTTP/1.1 request (moto's presigned URLs are http) and returns the status.
pub async fn http_send(method: &str, url: &str, content_type: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Everything the code under test logged (INFO and above), for asserting what must never be
/// logged. Installed once per test binary.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| LogSink)
            .try_init();
    });
}

/// Multipart body with one `file` field.
pub fn multipart(filename: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("cc{}", uuid::Uuid::new_v4().simple());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
