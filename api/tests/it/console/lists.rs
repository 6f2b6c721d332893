//! The console's lists: webhooks filtered, searched and paged by key or number, and
//! counters found by key prefix.

use engine::both_modes;
use engine::testing::receiver;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::Mode;

use super::{call, get, providers, spawn, submit};

/// The ids of `all` at `at`.
fn pick(all: &[String], at: &[usize]) -> Vec<String> {
    at.iter().map(|&i| all[i].clone()).collect()
}

/// The webhook ids of a list page, in order.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect()
}

both_modes!(webhook_lists_filter_and_page_by_key);
async fn webhook_lists_filter_and_page_by_key(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, false).await;
    let first = receiver(200).await;
    let second = receiver(200).await;
    let first_host = first.uri().trim_start_matches("http://").to_owned();
    let mut all = Vec::new();
    for provider in ["gas", "gas", "internet"] {
        all.push(submit(&app, None, provider, &format!("{}/a", first.uri())).await);
    }
    for provider in ["internet", "gas"] {
        all.push(submit(&app, None, provider, &format!("{}/b", second.uri())).await);
    }
    let list = |query: String| {
        let app = &app;
        async move { get(app, &format!("/v1/webhooks?{query}"), None).await }
    };

    assert_eq!(
        ids(&list("provider=gas".into()).await),
        pick(&all, &[0, 1, 4])
    );
    assert_eq!(
        ids(&list("provider=internet".into()).await),
        pick(&all, &[2, 3])
    );
    // A list's provider is any text (a provider no longer configured still has webhooks).
    assert!(ids(&list("provider=water".into()).await).is_empty());
    assert_eq!(
        ids(&list(format!("callbackHost={first_host}")).await),
        &all[..3]
    );
    assert_eq!(ids(&list("callbackHost=127.0.0.1".into()).await), all);
    assert!(ids(&list("callbackHost=example.com".into()).await).is_empty());
    let prefix = all[3][..20].to_ascii_lowercase();
    assert_eq!(
        ids(&list(format!("search={prefix}")).await),
        pick(&all, &[3])
    );
    assert_eq!(
        ids(&list(format!("search={}", all[2])).await),
        pick(&all, &[2])
    );

    // A created time range: from the third webhook's creation, and before it.
    let third = get(&app, &format!("/v1/webhooks/{}", all[2]), None).await;
    let at = third["createdAt"].as_str().unwrap().replace('+', "%2B");
    assert_eq!(ids(&list(format!("createdAfter={at}")).await), &all[2..]);
    assert_eq!(ids(&list(format!("createdBefore={at}")).await), &all[..2]);

    // Keyset pages: no total, a cursor until the last page; newest first too.
    let page = list("pageSize=2&after=".into()).await;
    assert_eq!(ids(&page), &all[..2]);
    assert!(page.get("total").is_none(), "{page}");
    let next = page["nextAfter"].as_str().unwrap().to_owned();
    assert_eq!(next, all[1]);
    let page = list(format!("pageSize=2&after={next}")).await;
    assert_eq!(ids(&page), &all[2..4]);
    let page = list(format!(
        "pageSize=2&after={}",
        page["nextAfter"].as_str().unwrap()
    ))
    .await;
    assert_eq!(ids(&page), &all[4..]);
    assert!(page.get("nextAfter").is_none(), "{page}");
    let newest = list("pageSize=3&order=desc&after=".into()).await;
    assert_eq!(ids(&newest), pick(&all, &[4, 3, 2]));
    let older = list(format!("pageSize=3&order=desc&after={}", all[2])).await;
    assert_eq!(ids(&older), pick(&all, &[1, 0]));
    // Numbered pages keep their total.
    let numbered = list("pageSize=2&page=2&provider=gas".into()).await;
    assert_eq!(
        (ids(&numbered), numbered["total"].as_u64()),
        (vec![all[4].clone()], Some(3))
    );

    for (query, field) in [
        ("search=01-not-an-id", "search"),
        ("callbackHost=http://x/y", "callbackHost"),
        ("createdAfter=yesterday", "createdAfter"),
        ("createdBefore=", "createdBefore"),
        ("order=sideways", "order"),
        ("status=lost", "status"),
    ] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks?{query}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
}

both_modes!(counters_are_found_by_key_prefix);
async fn counters_are_found_by_key_prefix(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, false).await;
    for key in [
        "page-views",
        "page-clicks",
        "pages_total",
        "pagesXtotal",
        "other",
    ] {
        let body = json!({"key": key, "value": 2}).to_string();
        let (status, answer) = app.post_json("/v1/increment", &body).await;
        assert_eq!(status, 202, "{answer}");
    }
    app.flush_counters().await;
    let keys = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        keys(get(&app, "/v1/counters?prefix=page-", None).await),
        ["page-clicks", "page-views"]
    );
    // `_` and `%` are characters of the key, not patterns.
    assert_eq!(
        keys(get(&app, "/v1/counters?prefix=pages_", None).await),
        ["pages_total"]
    );
    assert!(keys(get(&app, "/v1/counters?prefix=%25", None).await).is_empty());
    let some = get(&app, "/v1/counters?prefix=p&pageSize=3", None).await;
    assert_eq!((some["total"].as_u64(), keys(some).len()), (Some(4), 3));
    assert_eq!(get(&app, "/v1/counters", None).await["total"], 5);
}
