//! The store's retry of `TransactionConflict` (DESIGN.md "Concurrency"). moto serializes
//! requests and never produces the conflict, so an interceptor answers the first N
//! `TransactWriteItems` attempts with one, as DynamoDB does under contention.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use cc_tests::TestApp;
use commandcenter::api;
use commandcenter::store::{keys, Store};
use serde_json::json;

#[derive(Debug, Clone)]
struct Conflicts {
    left: Arc<AtomicU32>,
    seen: Arc<AtomicU32>,
}

#[derive(Debug, Clone)]
struct Injected;

impl aws_smithy_types::config_bag::Storable for Injected {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for Conflicts {
    fn name(&self) -> &'static str {
        "InjectTransactionConflict"
    }

    /// A conflicting transaction writes nothing: the request is swapped for a harmless
    /// ListTables before it leaves, and its answer for the conflict below.
    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let is_tx = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .is_some_and(|m| m.name() == "TransactWriteItems");
        if !is_tx {
            return Ok(());
        }
        self.seen.fetch_add(1, Ordering::SeqCst);
        if self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let req = context.request_mut();
            req.headers_mut()
                .insert("x-amz-target", "DynamoDB_20120810.ListTables");
            req.headers_mut().insert("content-length", "2");
            *req.body_mut() = SdkBody::from("{}");
            cfg.interceptor_state().store_put(Injected);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Injected>().is_some() {
            cfg.interceptor_state().unset::<Injected>();
            let res = context.response_mut();
            *res.status_mut() = 400u16.try_into().unwrap();
            *res.body_mut() = SdkBody::from(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#,
            );
        }
        Ok(())
    }
}

fn conflicting(app: &TestApp, n: u32) -> (Store, Conflicts) {
    let c = Conflicts {
        left: Arc::new(AtomicU32::new(n)),
        seen: Arc::new(AtomicU32::new(0)),
    };
    let client = aws_sdk_dynamodb::Client::from_conf(
        app.state
            .aws
            .dynamodb
            .config()
            .to_builder()
            .interceptor(c.clone())
            .build(),
    );
    (Store::new(client, app.state.config.table_name.clone()), c)
}

#[tokio::test]
async fn transaction_conflicts_are_retried_with_backoff() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let (store, conflicts) = conflicting(&app, 2);
    let mut state = app.state.clone();
    state.store = store;
    let router = api::app(api::all_routes(), state);
    let flaky = TestApp {
        router,
        dev: app.dev.clone(),
        state: app.state.clone(),
        ws_url: None,
    };

    let r = flaky
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "Contended", "owner": "acme"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        conflicts.seen.load(Ordering::SeqCst),
        3,
        "two conflicts, then success"
    );
    let id = r.body["id"].as_u64().unwrap();
    // Written exactly once: one META, one STATS, one membership.
    let items = app.partition(id).await;
    assert_eq!(items.iter().filter(|s| *s == "META").count(), 1);
    assert_eq!(items.iter().filter(|s| s.starts_with("MEMBER#")).count(), 1);
    let stored = app
        .state
        .store
        .get(&keys::project_stats(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["owners"].as_n().unwrap(), "1");
}

#[tokio::test]
async fn persistent_conflicts_become_503_with_retry_after() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let (store, conflicts) = conflicting(&app, 100);
    let mut state = app.state.clone();
    state.store = store;
    let flaky = TestApp {
        router: api::app(api::all_routes(), state),
        dev: app.dev.clone(),
        state: app.state.clone(),
        ws_url: None,
    };
    let r = flaky
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "Never", "owner": "acme"}))
        .send()
        .await;
    r.problem(503, "service_unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        conflicts.seen.load(Ordering::SeqCst),
        6,
        "first attempt + 5 retries"
    );
    let r = app.get("/api/v1/projects").bearer(&u.access).send().await;
    assert_eq!(r.body, json!([]));
}
