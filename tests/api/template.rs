//! Code and template agree: every route a group serves is an HTTP API event of the function of
//! that name in template.yaml, and the template routes nothing the code does not serve.

use std::collections::BTreeSet;

use serde_json::Value;

fn describe() -> Value {
    let out = cc_tests::provision(&["describe"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_route_is_in_the_template_and_vice_versa() {
    let d = describe();
    for (group, routes) in commandcenter::api::GROUPS {
        let (_, api) = routes().split_for_parts();
        let mut served = BTreeSet::new();
        for (path, item) in api.paths.paths {
            let item = serde_json::to_value(item).unwrap();
            for method in item.as_object().unwrap().keys() {
                let m = method.to_uppercase();
                served.insert((m.clone(), path.clone()));
                if m == "PATCH" {
                    served.insert(("PUT".into(), path.clone()));
                }
            }
        }
        let f = &d["functions"][*group];
        assert!(f.is_object(), "template has no function for {group}");
        let mut templated = BTreeSet::new();
        for r in f["routes"].as_array().unwrap() {
            let (m, p) = (r[0].as_str().unwrap(), r[1].as_str().unwrap());
            if m == "OPTIONS" || p == "$default" {
                continue; // preflights (edge middleware) and unrouted requests (fallback)
            }
            let p = if p.len() > 1 {
                p.trim_end_matches('/')
            } else {
                p
            };
            templated.insert((m.to_string(), p.to_string()));
            if p != "/" {
                let slash = format!("{p}/");
                assert!(
                    f["routes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r[0] == m && r[1] == slash.as_str()),
                    "{group}: {m} {p} has no trailing-slash twin"
                );
            }
        }
        assert_eq!(served, templated, "{group}: routes served vs templated");
    }
    let functions: BTreeSet<_> = d["functions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let http: BTreeSet<_> = d["functions"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, f)| !f["routes"].as_array().unwrap().is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    let groups: BTreeSet<_> = commandcenter::api::GROUPS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(http, groups, "every HTTP function has a route group");
    let crates: BTreeSet<_> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(
        crates, functions,
        "every function has a crate in functions/"
    );
}

#[test]
fn every_job_type_has_function_queue_and_dead_letter_queue() {
    use commandcenter::domain::validate::EnumValues;
    let d = describe();
    for t in commandcenter::domain::jobs::JobType::VALUES {
        let name = format!("job-{}", t.replace('_', "-"));
        let f = &d["functions"][&name];
        assert!(f.is_object(), "no function {name}");
        let queues = f["queues"].as_array().unwrap();
        assert_eq!(queues.len(), 1, "{name} reads one queue");
        let q = &d["queues"][queues[0].as_str().unwrap()];
        assert_eq!(q["max_receive_count"], 5, "{name}");
        assert!(
            q["visibility_timeout"].as_i64().unwrap() >= 6 * 300,
            "{name}"
        );
        let dlq = q["dlq"].as_str().expect("a dead-letter queue");
        let handlers: Vec<_> = d["functions"]["dlq-handler"]["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q.as_str().unwrap())
            .collect();
        assert!(handlers.contains(&dlq), "dlq-handler reads {dlq}");
    }
}
