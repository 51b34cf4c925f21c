//! `cargo xtask bench load`: the time from navigation to an interactive sign-in form on a cold start (a new
//! browser profile each time, so nothing is cached), for this app, for the article's React app and for the
//! design card's packages alone (`bench/size-floor`: what no build with those packages can go below), each served
//! by the same server, precompressed the same way, alternating load by load; on this machine as it is (the
//! desktop), and as a phone on a slow mobile network with a CPU four times slower, emulated by DevTools: with
//! Lighthouse's mobile figures applied per request, and with DevTools' own "Slow 4G" preset. (Only the network
//! and the CPU: the window stays a desktop's.)
//!
//! The measure is the page's First Contentful Paint: every page is empty until its framework renders, and the
//! first thing each renders is the sign-in form with its handlers attached. Two phases before it show where the
//! time goes: the HTML received, and the last of the code (the wasm and its JS, React's bundle) received.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use e2e::{Browser, TestServer, Throttling};
use session_server::Settings;

/// Odd, so that the median is one load, whose phases are printed.
const LOADS: usize = 11;

/// One cold load's milestones, in ms from navigation, and the code's size on the wire.
#[derive(Debug, Clone, Copy)]
struct Load {
    html: f64,
    code: f64,
    form: f64,
    code_kb: f64,
}

/// A build served for the bench, if its `dist/` was given in `variable`.
async fn served(variable: &str) -> Option<TestServer> {
    let dir = std::env::var_os(variable)?;
    Some(TestServer::serving(Settings::default(), PathBuf::from(dir)).await)
}

#[tokio::main]
async fn main() {
    let ours = TestServer::start(Settings::default()).await;
    let floor = served("FLOOR_DIST").await;
    let react = served("REACT_DIST").await;
    let profiles = [
        ("desktop (this machine, unthrottled)", None),
        (
            "phone: Lighthouse's slow 4G (150 ms a request, 1.6 Mbit/s), CPU 4x slower",
            Some(Throttling::LIGHTHOUSE_MOBILE),
        ),
        (
            "phone: DevTools' Slow 4G preset (562.5 ms a request, 1.44 Mbit/s), CPU 4x slower",
            Some(Throttling::DEVTOOLS_SLOW_4G),
        ),
    ];
    for (profile, throttling) in profiles {
        let builds: Vec<&TestServer> = [Some(&ours), floor.as_ref(), react.as_ref()].into_iter().flatten().collect();
        let mut loads = vec![Vec::new(); builds.len()];
        for round in 0..LOADS {
            // Each round starts with another build, so none always loads first (or right after another).
            for turn in 0..builds.len() {
                let build = (round + turn) % builds.len();
                loads[build].push(cold_load(&builds[build].base_url, throttling).await);
            }
        }
        println!("{profile}: cold load to an interactive sign-in form, median of {LOADS}");
        let mut loads = loads.iter_mut();
        let our_form = report("this app", loads.next().unwrap());
        let floor_form = floor.as_ref().map(|_| report("the card's packages alone", loads.next().unwrap()));
        let react_form = react.as_ref().map(|_| report("React original", loads.next().unwrap()));
        if let Some(floor_form) = floor_form {
            println!("  this app / the card's packages alone: {:.2}", our_form / floor_form);
        }
        if let Some(react_form) = react_form {
            println!("  this app / React original: {:.2}", our_form / react_form);
            if let Some(floor_form) = floor_form {
                println!("  the card's packages alone / React original: {:.2}", floor_form / react_form);
            }
        }
    }
}

/// Prints the load with the median form time, with its phases, and every form time; returns the median.
fn report(name: &str, loads: &mut [Load]) -> f64 {
    loads.sort_by(|one, other| one.form.total_cmp(&other.form));
    let median = loads[loads.len() / 2];
    let all: Vec<String> = loads.iter().map(|load| format!("{:.0}", load.form)).collect();
    println!(
        "  {name}: form interactive {:.0} ms (HTML received {:.0} ms, code received {:.0} ms, {:.1} KB of it on the \
         wire); all loads [{}]",
        median.form,
        median.html,
        median.code,
        median.code_kb,
        all.join(", "),
    );
    median.form
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
    let load = Load {
        html: number("html"),
        code: number("code"),
        form: number("form"),
        code_kb: number("codeBytes") / 1000.0,
    };
    if let Some(throttling) = throttling {
        assert!(load.html >= throttling.latency_ms, "the throttling did not apply: the HTML came in {} ms", load.html);
    }
    load
}
