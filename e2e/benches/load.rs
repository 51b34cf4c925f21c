//! `cargo xtask bench load`: the time from navigation to an interactive sign-in form on a cold start (a new
//! browser profile each time, so nothing is cached), for this app and for the article's React app, each served
//! by the same server, precompressed the same way, alternating load by load.
//!
//! The measure is the page's First Contentful Paint: both pages are empty until their framework renders, and the
//! first thing each renders is the sign-in form with its handlers attached.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use e2e::{Browser, TestServer};
use session_server::Settings;

const LOADS: usize = 10;

#[tokio::main]
async fn main() {
    let ours = TestServer::start(Settings::default()).await;
    let react = match std::env::var_os("REACT_DIST") {
        Some(dir) => Some(TestServer::serving(Settings::default(), PathBuf::from(dir)).await),
        None => None,
    };
    let (mut our_times, mut react_times) = (Vec::new(), Vec::new());
    for _ in 0..LOADS {
        our_times.push(cold_load(&ours.base_url).await);
        if let Some(react) = &react {
            react_times.push(cold_load(&react.base_url).await);
        }
    }
    let ours = median(&mut our_times);
    println!("cold load to an interactive sign-in form, median of {LOADS}: this app {ours:.0} ms {our_times:.0?}");
    if !react_times.is_empty() {
        let react = median(&mut react_times);
        println!("React original {react:.0} ms {react_times:.0?}; this app / React original: {:.2}", ours / react);
    }
}

async fn cold_load(base_url: &str) -> f64 {
    let browser = Browser::launch().await;
    browser.client.goto(&format!("{base_url}/login")).await.expect("the page loads");
    browser.wait_for("#username").await;
    // The paint entry is queued after the frame that shows the form, which may come after the form is in the
    // DOM: wait for it (buffered, so one already reported is delivered at once).
    let paint = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             new PerformanceObserver((list, observer) => {
                 const paint = list.getEntriesByName('first-contentful-paint')[0];
                 if (paint) { observer.disconnect(); done(paint.startTime); }
             }).observe({type: 'paint', buffered: true});",
            vec![],
        )
        .await
        .expect("the script runs");
    browser.close().await;
    paint.as_f64().expect("Chromium reports the first contentful paint")
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
