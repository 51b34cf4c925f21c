//! `cargo xtask bench load`: the time from navigation to an interactive sign-in form on a cold start (a new
//! browser profile each time, so nothing is cached), for this app and for the article's React app, each served
//! by the same server, precompressed the same way, alternating load by load; on this machine as it is (the
//! desktop) and as a phone on a slow mobile network (Lighthouse's profile, emulated by DevTools).
//!
//! The measure is the page's First Contentful Paint: both pages are empty until their framework renders, and the
//! first thing each renders is the sign-in form with its handlers attached. Two phases before it show where the
//! time goes: the HTML received, and the last of the code (this app's wasm, React's bundle) received.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use e2e::{Browser, TestServer, Throttling};
use session_server::Settings;

const LOADS: usize = 10;

/// One cold load's milestones, in ms from navigation, and the code's size on the wire.
#[derive(Debug, Clone, Copy)]
struct Load {
    html: f64,
    code: f64,
    form: f64,
    code_kb: f64,
}

#[tokio::main]
async fn main() {
    let ours = TestServer::start(Settings::default()).await;
    let react = match std::env::var_os("REACT_DIST") {
        Some(dir) => Some(TestServer::serving(Settings::default(), PathBuf::from(dir)).await),
        None => None,
    };
    for (profile, throttling) in
        [("desktop", None), ("phone (slow 4G, CPU 4x slower)", Some(Throttling::SLOW_4G_PHONE))]
    {
        let (mut our_loads, mut react_loads) = (Vec::new(), Vec::new());
        for _ in 0..LOADS {
            our_loads.push(cold_load(&ours.base_url, throttling).await);
            if let Some(react) = &react {
                react_loads.push(cold_load(&react.base_url, throttling).await);
            }
        }
        println!("{profile}: cold load to an interactive sign-in form, median of {LOADS}");
        let ours = report("this app", &our_loads);
        if !react_loads.is_empty() {
            let react = report("React original", &react_loads);
            println!("  this app / React original: {:.2}", ours / react);
        }
    }
}

/// Prints the medians of `loads`; returns the form's.
fn report(name: &str, loads: &[Load]) -> f64 {
    let median = |phase: fn(&Load) -> f64| {
        let mut times: Vec<f64> = loads.iter().map(phase).collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let form = median(|load| load.form);
    let all: Vec<String> = loads.iter().map(|load| format!("{:.0}", load.form)).collect();
    println!(
        "  {name}: form interactive {form:.0} ms [{}]; HTML received {:.0} ms, code received {:.0} ms ({:.1} KB on the wire)",
        all.join(", "),
        median(|load| load.html),
        median(|load| load.code),
        median(|load| load.code_kb),
    );
    form
}

async fn cold_load(base_url: &str, throttling: Option<Throttling>) -> Load {
    let browser = Browser::launch().await;
    if let Some(throttling) = throttling {
        browser.throttle(throttling).await;
    }
    browser.client.goto(&format!("{base_url}/login")).await.expect("the page loads");
    browser.wait_for("#username").await;
    // The paint entry is queued after the frame that shows the form, which may come after the form is in the
    // DOM: wait for it (buffered, so one already reported is delivered at once).
    let load = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             new PerformanceObserver((list, observer) => {
                 const paint = list.getEntriesByName('first-contentful-paint')[0];
                 if (!paint) return;
                 observer.disconnect();
                 const code = performance.getEntriesByType('resource')
                     .filter(entry => /\\.(wasm|js)$/.test(new URL(entry.name).pathname));
                 done({
                     html: performance.getEntriesByType('navigation')[0].responseEnd,
                     code: Math.max(...code.map(entry => entry.responseEnd)),
                     form: paint.startTime,
                     codeBytes: code.reduce((sum, entry) => sum + entry.encodedBodySize, 0),
                 });
             }).observe({type: 'paint', buffered: true});",
            vec![],
        )
        .await
        .expect("the script runs");
    browser.close().await;
    let number = |name: &str| load[name].as_f64().expect("Chromium reports the page's timings");
    Load { html: number("html"), code: number("code"), form: number("form"), code_kb: number("codeBytes") / 1000.0 }
}
