mod dpop;
mod fakes;
mod ordering;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures::executor::block_on;
use futures::future::join_all;

use super::*;
use session_contract::paths::{LOGIN as LOGIN_PATH, LOGOUT as LOGOUT_PATH, REFRESH as REFRESH_PATH};
use session_contract::{Credentials, ErrorCode, TokenResponse};

use crate::{
    AccessToken, EndReason, News, RequestRecipe, Response, SessionError, SessionEvent, SingleTab, Subscription, Tabs,
    TokenStore, TransportError,
};
use fakes::{FakeClock, FakeServer, FakeTransport, MemoryStore, RefreshAnswer, YieldOnce, turns, until};

type Client<X> = SessionClient<FakeTransport, MemoryStore, FakeClock, X>;

struct Harness {
    server: Rc<FakeServer>,
    store: MemoryStore,
    clock: FakeClock,
    client: Client<SingleTab>,
    events: Recorded,
}

/// A client holding the server's current token, issued just now with a 15-minute lifetime.
fn signed_in() -> Harness {
    let server = FakeServer::new();
    let store = MemoryStore::default();
    let clock = FakeClock::default();
    store.save(&AccessToken::new("t0", "s0", Some(900_000.0), Duration::from_secs(900)));
    let client = SessionClient::new(FakeTransport(Rc::clone(&server)), store.clone(), clock.clone(), SingleTab);
    let events = record_events(&client);
    Harness { server, store, clock, client, events }
}

/// The events a client emitted, heard for as long as this lives.
struct Recorded {
    events: Rc<RefCell<Vec<SessionEvent>>>,
    _subscription: Subscription,
}

impl Recorded {
    fn borrow(&self) -> std::cell::Ref<'_, Vec<SessionEvent>> {
        self.events.borrow()
    }
}

fn record_events<X: Tabs + 'static>(client: &Client<X>) -> Recorded {
    let events = Rc::new(RefCell::new(Vec::new()));
    let recorded = Rc::clone(&events);
    let subscription = client.on_event(move |event| recorded.borrow_mut().push(event));
    Recorded { events, _subscription: subscription }
}

#[test]
fn a_dropped_subscription_hears_nothing_more_and_the_others_still_do() {
    let harness = signed_in();
    let leaving = record_events(&harness.client);
    let leaving_events = Rc::clone(&leaving.events);
    drop(leaving);
    block_on(harness.client.sign_out());
    assert!(leaving_events.borrow().is_empty(), "an unmounted component is not called");
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
}

#[test]
fn a_listener_unsubscribed_by_an_earlier_one_is_not_called_for_that_event() {
    // A navigation on sign-in unmounts a page whose listener comes later in the list: it must not run.
    let harness = signed_in();
    let later = Rc::new(RefCell::new(None::<Recorded>));
    let dropping = Rc::clone(&later);
    let _earlier = harness.client.on_event(move |event| {
        if event == SessionEvent::SignedIn {
            drop(dropping.borrow_mut().take());
        }
    });
    let recorded = record_events(&harness.client);
    let later_events = Rc::clone(&recorded.events);
    *later.borrow_mut() = Some(recorded);
    block_on(harness.client.sign_out());
    block_on(harness.client.sign_in("ada", "right")).unwrap();
    assert_eq!(*later_events.borrow(), [SessionEvent::SignedOut], "heard until unsubscribed, not after");
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut, SessionEvent::SignedIn]);
}

fn stored_token(harness: &Harness) -> Option<String> {
    harness.store.load().map(|token| token.value)
}

#[test]
fn a_valid_token_is_sent_as_is_without_refreshing() {
    let harness = signed_in();
    let response = block_on(harness.client.send(&RequestRecipe::get("/user"))).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(harness.server.refreshes(), 0);
    assert_eq!(harness.server.requests_to("/user")[0].1.as_deref(), Some("t0"));
}

#[test]
fn a_401_refreshes_once_and_replays_the_identical_request_with_the_new_token() {
    let harness = signed_in();
    harness.server.expire_access_token();
    let request = RequestRecipe::post("/user/things")
        .with_json(&Credentials { username: "x".into(), password: "y".into() })
        .unwrap();
    let response = block_on(harness.client.send(&request)).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(harness.server.refreshes(), 1);
    let sent = harness.server.requests_to("/user/things");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0, request);
    assert_eq!(sent[1].0, request, "the replay differs only in its Authorization header");
    assert_eq!(sent[1].1.as_deref(), Some("t1"));
    assert_eq!(stored_token(&harness).as_deref(), Some("t1"));
    assert_eq!(*harness.events.borrow(), [SessionEvent::Renewed]);
}

#[test]
fn concurrent_401s_share_a_single_refresh_and_each_request_is_replayed_once() {
    let harness = signed_in();
    harness.server.expire_access_token();
    let requests: Vec<_> = (0..8).map(|index| RequestRecipe::get(format!("/item/{index}"))).collect();
    let responses = block_on(join_all(requests.iter().map(|request| harness.client.send(request))));
    assert!(responses.iter().all(|response| response.as_ref().is_ok_and(|response| response.status == 200)));
    assert_eq!(harness.server.refreshes(), 1);
    for request in &requests {
        let sent = harness.server.requests_to(&request.path);
        let tokens: Vec<_> = sent.iter().map(|(_, bearer)| bearer.as_deref()).collect();
        assert_eq!(tokens, [Some("t0"), Some("t1")], "{}", request.path);
    }
}

#[test]
fn a_401_for_a_token_already_replaced_replays_without_another_refresh() {
    let harness = signed_in();
    harness.server.expire_access_token();
    // Both leave with t0; the fast one's 401 renews the token while the slow one is still on the wire.
    let (fast, slow) = block_on(async {
        futures::join!(async { harness.client.send(&RequestRecipe::get("/fast")).await }, async {
            harness.client.send(&RequestRecipe::get("/slow")).await
        },)
    });
    assert!(fast.is_ok() && slow.is_ok());
    assert_eq!(harness.server.refreshes(), 1);
    let tokens: Vec<_> = harness.server.requests_to("/slow").into_iter().map(|(_, bearer)| bearer).collect();
    assert_eq!(tokens, [Some("t0".to_owned()), Some("t1".to_owned())]);
}

#[test]
fn a_request_started_while_a_refresh_runs_waits_for_the_new_token() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.hold(REFRESH_PATH);
    block_on(async {
        let refused = async { harness.client.send(&RequestRecipe::get("/refused")).await };
        let later = async {
            until(|| harness.server.refreshes() == 1).await;
            let later = async { harness.client.send(&RequestRecipe::get("/later")).await };
            let release = async {
                // The refresh is still on the wire: the later request must not have left with the stale token.
                for _ in 0..20 {
                    YieldOnce(false).await;
                }
                assert!(harness.server.requests_to("/later").is_empty(), "sent before the refresh answered");
                harness.server.release(REFRESH_PATH);
            };
            futures::join!(later, release).0
        };
        let (refused, later) = futures::join!(refused, later);
        assert!(refused.is_ok() && later.is_ok());
    });
    let later = harness.server.requests_to("/later");
    assert_eq!(later.len(), 1, "sent once, already with the new token");
    assert_eq!(later[0].1.as_deref(), Some("t1"));
}

#[test]
fn a_401_after_a_successful_refresh_goes_back_to_the_caller_instead_of_looping() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refuses_every_token.set(true);
    let outcome = block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(outcome, Err(SessionError::Unauthorized));
    assert_eq!(harness.server.refreshes(), 1);
    assert_eq!(harness.server.requests_to("/user").len(), 2);
    assert!(stored_token(&harness).is_some(), "a refused replay does not sign anybody out");
}

#[test]
fn a_403_from_the_refresh_ends_the_session_for_every_waiting_request() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::Forbidden);
    let requests: Vec<_> = (0..3).map(|index| RequestRecipe::get(format!("/item/{index}"))).collect();
    let outcomes = block_on(join_all(requests.iter().map(|request| harness.client.send(request))));
    assert!(outcomes.iter().all(|outcome| *outcome == Err(SessionError::SessionExpired)), "{outcomes:?}");
    assert_eq!(harness.server.refreshes(), 1);
    assert_eq!(stored_token(&harness), None);
    assert_eq!(*harness.events.borrow(), [SessionEvent::Ended(EndReason::Expired)]);
}

#[test]
fn a_refresh_refused_for_reuse_says_so_in_the_event() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::Reused);
    assert_eq!(block_on(harness.client.send(&RequestRecipe::get("/user"))), Err(SessionError::SessionExpired));
    assert_eq!(stored_token(&harness), None);
    assert_eq!(*harness.events.borrow(), [SessionEvent::Ended(EndReason::Reused)], "not folded into 'expired'");
}

#[test]
fn sign_in_refresh_and_sign_out_carry_the_csrf_marker_from_the_client_itself() {
    let harness = signed_in();
    harness.server.expire_access_token();
    block_on(harness.client.send(&RequestRecipe::get("/user"))).unwrap();
    block_on(harness.client.sign_out());
    block_on(harness.client.sign_in("ada", "right")).unwrap();
    for path in [REFRESH_PATH, LOGOUT_PATH, LOGIN_PATH] {
        let (request, _) = harness.server.requests_to(path).pop().unwrap();
        assert_eq!(request.header(session_contract::CSRF_HEADER), Some(session_contract::CSRF_HEADER_VALUE), "{path}");
    }
    let (user, _) = harness.server.requests_to("/user").pop().unwrap();
    assert_eq!(user.header(session_contract::CSRF_HEADER), None, "a read needs no marker");
}

#[test]
fn a_request_turned_unsafe_after_it_was_made_still_carries_the_marker() {
    let harness = signed_in();
    let mut request = RequestRecipe::get("/user");
    request.method = crate::Method::Post;
    request.headers.clear();
    block_on(harness.client.send(&request)).unwrap();
    let (sent, _) = harness.server.requests_to("/user").pop().unwrap();
    assert_eq!(sent.header(session_contract::CSRF_HEADER), Some(session_contract::CSRF_HEADER_VALUE));
    assert_eq!(request.header(session_contract::CSRF_HEADER), None, "the caller's recipe is left as it was");

    let other_value = RequestRecipe::delete("/user").with_header(session_contract::CSRF_HEADER, "XMLHttpRequest");
    block_on(harness.client.send(&other_value)).unwrap();
    let (sent, _) = harness.server.requests_to("/user").pop().unwrap();
    assert_eq!(sent.header(session_contract::CSRF_HEADER), Some(session_contract::CSRF_HEADER_VALUE), "the value too");
}

#[test]
fn a_network_failure_during_the_refresh_keeps_the_session() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::Unreachable);
    assert_eq!(block_on(harness.client.send(&RequestRecipe::get("/user"))), Err(SessionError::Network));
    assert_eq!(stored_token(&harness).as_deref(), Some("t0"));
    assert!(harness.events.borrow().is_empty());

    harness.server.refresh_answer.set(RefreshAnswer::Rotate);
    harness.clock.set(1_001.0);
    assert!(block_on(harness.client.send(&RequestRecipe::get("/user"))).is_ok(), "a later request tries again");
    assert_eq!(stored_token(&harness).as_deref(), Some("t1"));
}

#[test]
fn after_a_failed_refresh_the_next_attempts_back_off() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::Unreachable);
    let user = || block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(user(), Err(SessionError::Network));
    assert_eq!(harness.server.refreshes(), 2, "an attempt and its immediate retry");

    harness.clock.set(999.0);
    assert_eq!(user(), Err(SessionError::Network), "within the first second: the last error, no request");
    assert_eq!(harness.server.refreshes(), 2);
    harness.clock.set(1_000.0);
    assert_eq!(user(), Err(SessionError::Network));
    assert_eq!(harness.server.refreshes(), 4, "then it tries again");

    harness.clock.set(2_999.0);
    assert_eq!(user(), Err(SessionError::Network), "the second wait is two seconds");
    assert_eq!(harness.server.refreshes(), 4);
    harness.server.refresh_answer.set(RefreshAnswer::Rotate);
    harness.clock.set(3_000.0);
    assert!(user().is_ok());
    assert_eq!(harness.server.refreshes(), 5);

    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::Unreachable);
    assert_eq!(user(), Err(SessionError::Network));
    harness.clock.set(4_000.0);
    assert_eq!(user(), Err(SessionError::Network));
    assert_eq!(harness.server.refreshes(), 9, "a success resets the wait to one second");
}

#[test]
fn the_periodic_check_renews_an_idle_tabs_token_only_when_due() {
    let harness = signed_in();
    block_on(harness.client.renew_if_due()).unwrap();
    assert_eq!(harness.server.refreshes(), 0);
    // The device slept through the expiry: wall-clock time has moved on, whatever timers did.
    harness.clock.set(2_000_000.0);
    block_on(harness.client.renew_if_due()).unwrap();
    assert_eq!(harness.server.refreshes(), 1);
    assert_eq!(stored_token(&harness).as_deref(), Some("t1"));

    harness.clock.set(4_000_000.0);
    harness.server.refresh_answer.set(RefreshAnswer::Forbidden);
    assert_eq!(block_on(harness.client.renew_if_due()), Err(SessionError::SessionExpired));
}

#[test]
fn errors_tell_apart_what_a_page_must_handle_differently() {
    assert_eq!(SessionError::from_status(502, b""), SessionError::Server { status: 502 });
    assert_eq!(
        SessionError::from_status(404, br#"{"error":"not_found","message":"No such resource."}"#),
        SessionError::Status { status: 404, code: ErrorCode::NotFound, message: "No such resource.".to_owned() }
    );
    assert!(matches!(SessionError::from_status(418, b"<html>"), SessionError::Status { status: 418, .. }));
    assert_eq!(
        SessionError::from_status(404, br#"{"error":"not_found","message":""}"#).code(),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(SessionError::Network.code(), None, "no answer, no code");
    assert_eq!(SessionError::from(TransportError::Timeout), SessionError::Timeout);
    assert_eq!(SessionError::from(TransportError::Network).to_string(), "no answer from the server");
    let refused = SessionError::from_status(429, br#"{"error":"too_many_attempts","message":"Wait 3 s."}"#);
    assert_eq!(
        refused.to_string(),
        "refused with status 429 (too_many_attempts): Wait 3 s.",
        "for logs, with the code"
    );
    let garbage = Response::new(200, "{");
    assert!(matches!(garbage.json::<TokenResponse>(), Err(SessionError::Decode(_))));
}

#[test]
fn a_refresh_that_times_out_keeps_the_session_and_says_so() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::TimedOut);
    let outcome = block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(outcome, Err(SessionError::Timeout));
    assert_eq!(outcome.unwrap_err().to_string(), "the server did not answer in time");
    assert_eq!(stored_token(&harness).as_deref(), Some("t0"));
    assert!(harness.events.borrow().is_empty(), "nobody is signed out by a slow server");
}

#[test]
fn a_server_error_during_the_refresh_keeps_the_session() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::ServerError);
    let outcome = block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(outcome, Err(SessionError::Server { status: 503 }));
    assert_eq!(outcome.unwrap_err().to_string(), "server error (status 503)");
    assert_eq!(stored_token(&harness).as_deref(), Some("t0"));
}

#[test]
fn a_401_from_the_login_is_a_wrong_password_not_a_refresh() {
    let harness = signed_in();
    let outcome = block_on(harness.client.sign_in("demo", "wrong"));
    assert!(matches!(outcome, Err(SessionError::Status { code: ErrorCode::InvalidCredentials, .. })));
    assert_eq!(harness.server.refreshes(), 0);
}

#[test]
fn a_token_about_to_expire_is_renewed_before_it_is_sent() {
    let harness = signed_in();
    // 15-minute token: renewed once less than a minute remains.
    harness.clock.set(900_000.0 - 61_000.0);
    block_on(harness.client.send(&RequestRecipe::get("/user"))).unwrap();
    assert_eq!(harness.server.refreshes(), 0);

    harness.clock.set(900_000.0 - 59_000.0);
    block_on(harness.client.send(&RequestRecipe::get("/user"))).unwrap();
    assert_eq!(harness.server.refreshes(), 1);
    assert_eq!(harness.server.requests_to("/user")[1].1.as_deref(), Some("t1"));
    let renewed = harness.store.load().unwrap();
    assert_eq!(renewed.expires_at_ms, Some(900_000.0 - 59_000.0 + 900_000.0), "expiry counts from receipt");
}

#[test]
fn signing_out_clears_the_token_even_when_the_server_is_unreachable() {
    let harness = signed_in();
    assert!(harness.client.is_signed_in());
    harness.server.unreachable.set(true);
    block_on(harness.client.sign_out());
    assert!(!harness.client.is_signed_in());
    let logout = &harness.server.requests_to(LOGOUT_PATH)[0].0;
    assert!(logout.keepalive, "delivered even if the tab closes at once");
    assert_eq!(stored_token(&harness), None);
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
    assert_eq!(harness.server.requests_to(LOGOUT_PATH).len(), 1);
}

/// Each tab's id and how to deliver an event to it.
type Bus = Rc<RefCell<Vec<(usize, Rc<dyn Fn(News)>)>>>;

/// Tabs of one browser: a lock only one tab holds at a time, and a bus that tells the others what happened.
#[derive(Clone)]
struct FakeTabs {
    id: usize,
    lock: std::sync::Arc<futures::lock::Mutex<()>>,
    bus: Bus,
    locks_taken: Rc<Cell<u32>>,
}

impl Tabs for FakeTabs {
    type Lock = futures::lock::OwnedMutexGuard<()>;

    async fn lock(&self) -> Self::Lock {
        self.locks_taken.set(self.locks_taken.get() + 1);
        std::sync::Arc::clone(&self.lock).lock_owned().await
    }

    fn announce(&self, news: &News) {
        let others: Vec<_> =
            self.bus.borrow().iter().filter(|(id, _)| *id != self.id).map(|(_, deliver)| Rc::clone(deliver)).collect();
        for deliver in others {
            deliver(news.clone());
        }
    }
}

struct TwoTabs {
    server: Rc<FakeServer>,
    store: MemoryStore,
    lock: std::sync::Arc<futures::lock::Mutex<()>>,
    tabs: [Client<FakeTabs>; 2],
    events: [Recorded; 2],
    locks_taken: Rc<Cell<u32>>,
}

fn two_tabs_signed_in() -> TwoTabs {
    two_tabs_signed_in_with(crate::Options::default(), ONE_BROWSER)
}

/// What the tabs of a browser share.
#[derive(Clone, Copy)]
struct Shared {
    /// The refresh lock (a browser without Web Locks has none).
    web_locks: bool,
    /// The store, always up to date in every tab; otherwise each tab has its own view, as in WebKit (which hands
    /// localStorage writes to other tabs late) or where localStorage refuses writes (each tab's memory).
    store: bool,
}

const ONE_BROWSER: Shared = Shared { web_locks: true, store: true };

/// Two tabs signed in to one session.
fn two_tabs_signed_in_with(options: crate::Options, shared: Shared) -> TwoTabs {
    let Harness { server, store, clock, .. } = signed_in();
    let template = FakeTabs {
        id: 0,
        lock: Default::default(),
        bus: Rc::new(RefCell::new(Vec::new())),
        locks_taken: Rc::new(Cell::new(0)),
    };
    let tab = |id| {
        let lock = if shared.web_locks { std::sync::Arc::clone(&template.lock) } else { Default::default() };
        let tabs = FakeTabs { id, lock, ..template.clone() };
        let transport = FakeTransport(Rc::clone(&server));
        let view = if shared.store || id == 0 { store.clone() } else { MemoryStore::holding(store.load()) };
        let client = SessionClient::with_options(transport, view, clock.clone(), tabs, options.clone());
        let receiver = client.clone();
        let deliver: Rc<dyn Fn(News)> = Rc::new(move |news| receiver.receive_from_other_tab(news));
        template.bus.borrow_mut().push((id, deliver));
        client
    };
    let tabs = [tab(0), tab(1)];
    let events = [record_events(&tabs[0]), record_events(&tabs[1])];
    TwoTabs { server, store, lock: template.lock, tabs, events, locks_taken: template.locks_taken }
}

#[test]
fn two_tabs_refused_at_once_refresh_once_and_the_second_adopts_the_firsts_token() {
    let browser = two_tabs_signed_in();
    browser.server.expire_access_token();
    let (first, second) = block_on(async {
        futures::join!(async { browser.tabs[0].send(&RequestRecipe::get("/user")).await }, async {
            browser.tabs[1].send(&RequestRecipe::get("/user")).await
        },)
    });
    assert!(first.is_ok() && second.is_ok());
    assert_eq!(browser.server.refreshes(), 1, "one refresh across both tabs");
    assert_eq!(browser.locks_taken.get(), 2, "each tab asked for the lock; the second found the work done");
    let tokens: Vec<_> = browser.server.requests_to("/user").into_iter().map(|(_, bearer)| bearer).collect();
    assert_eq!(tokens.iter().filter(|token| token.as_deref() == Some("t1")).count(), 2);
}

#[test]
fn signing_out_in_one_tab_signs_out_every_tab() {
    let browser = two_tabs_signed_in();
    block_on(browser.tabs[0].sign_out());
    assert_eq!(browser.store.load(), None);
    assert!(!browser.tabs[1].is_signed_in());
    assert_eq!(*browser.events[0].borrow(), [SessionEvent::SignedOut]);
    assert_eq!(*browser.events[1].borrow(), [SessionEvent::SignedOut], "the other tab heard of it");
}

#[test]
fn a_session_ended_in_one_tab_ends_in_every_tab_without_a_second_refresh() {
    let browser = two_tabs_signed_in();
    browser.server.expire_access_token();
    browser.server.refresh_answer.set(RefreshAnswer::Forbidden);
    assert_eq!(block_on(browser.tabs[0].send(&RequestRecipe::get("/user"))), Err(SessionError::SessionExpired));
    assert_eq!(*browser.events[1].borrow(), [SessionEvent::Ended(EndReason::Expired)]);
    assert_eq!(block_on(browser.tabs[1].send(&RequestRecipe::get("/user"))), Err(SessionError::Unauthorized));
    assert_eq!(browser.server.refreshes(), 1);
    assert_eq!(browser.server.requests_to("/user").len(), 1, "a tab without a token sends nothing");
}

#[test]
fn a_malformed_answer_is_reported_without_repeating_any_of_its_body() {
    let answer = Response::new(200, r#"{"accessToken":"eyJsecret.part","expiresIn":"soon"}"#);
    let error = answer.json::<TokenResponse>().unwrap_err();
    let source = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    let text = format!("{error} {source} {error:?}");
    assert!(matches!(error, SessionError::Decode(_)));
    assert!(!text.contains("eyJ") && !text.contains("soon"), "{text}");
    assert!(source.contains("line 1"), "{source}");
}

/// A sign-out, or a sign-in elsewhere, while a refresh of the old session is on the wire (issue scenario 4).
fn signed_in_with_a_refresh_on_the_wire(
    harness: &Harness,
    meanwhile: impl AsyncFnOnce(),
) -> Result<Response, SessionError> {
    harness.server.expire_access_token();
    harness.server.hold(REFRESH_PATH);
    block_on(async {
        let user = RequestRecipe::get("/user");
        let request = harness.client.send(&user);
        let elsewhere = async {
            until(|| harness.server.refreshes() == 1).await;
            // The refresh's answer arrives while what happens meanwhile may still wait for it.
            let wire = async {
                turns(20).await;
                harness.server.release(REFRESH_PATH);
            };
            futures::join!(meanwhile(), wire);
        };
        futures::join!(request, elsewhere).0
    })
}

#[test]
fn a_sign_out_during_a_refresh_answered_200_is_not_undone_by_its_answer() {
    let harness = signed_in();
    let outcome = signed_in_with_a_refresh_on_the_wire(&harness, async || harness.client.sign_out().await);
    assert_eq!(stored_token(&harness), None, "the late answer did not sign the user back in");
    assert_eq!(outcome, Err(SessionError::Unauthorized));
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
    assert_eq!(harness.server.requests_to("/user").len(), 1, "nothing replayed");
}

#[test]
fn a_sign_out_during_a_refresh_answered_403_is_no_session_expiry() {
    let harness = signed_in();
    harness.server.refresh_answer.set(RefreshAnswer::Forbidden);
    let outcome = signed_in_with_a_refresh_on_the_wire(&harness, async || harness.client.sign_out().await);
    assert_eq!(outcome, Err(SessionError::Unauthorized));
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut], "no false 'your session has expired'");
}

fn someone_else() -> AccessToken {
    AccessToken::new("u0", "s1", Some(900_000.0), Duration::from_secs(900))
}

#[test]
fn a_sign_in_in_another_tab_during_a_refresh_is_neither_overwritten_nor_wiped() {
    for answer in [RefreshAnswer::Rotate, RefreshAnswer::Forbidden] {
        let harness = signed_in();
        harness.server.refresh_answer.set(answer);
        let outcome = signed_in_with_a_refresh_on_the_wire(&harness, async || harness.store.save(&someone_else()));
        assert_eq!(harness.store.load(), Some(someone_else()), "{answer:?}");
        assert_eq!(outcome, Err(SessionError::SessionChanged), "{answer:?}");
        // No renewal, no expiry: the sign-in the request found, told at once (its storage event may come later).
        assert_eq!(*harness.events.borrow(), [SessionEvent::SignedIn], "{answer:?}");
        assert_eq!(harness.server.requests_to("/user").len(), 1, "{answer:?}: not replayed with their token");
    }
}

#[test]
fn a_request_that_finds_the_session_gone_from_the_store_tells_the_listeners_at_once() {
    // Another page signed out: the store is empty, its storage event not here yet.
    let harness = signed_in();
    harness.store.clear();
    let outcome = block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(outcome, Err(SessionError::Unauthorized));
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
    assert!(harness.server.requests_to("/user").is_empty(), "nothing to send it with");
    // The storage event, when it comes, is old news.
    harness.client.store_changed_elsewhere();
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
}

#[test]
fn the_periodic_check_that_finds_another_session_stored_tells_the_listeners_at_once() {
    let harness = signed_in();
    // Due: the wall clock moved past the expiry.
    harness.clock.set(2_000_000.0);
    harness.server.hold(REFRESH_PATH);
    let outcome = block_on(async {
        let check = harness.client.renew_if_due();
        let elsewhere = async {
            until(|| harness.server.refreshes() == 1).await;
            harness.store.save(&someone_else());
            harness.server.release(REFRESH_PATH);
        };
        futures::join!(check, elsewhere).0
    });
    assert_eq!(outcome, Err(SessionError::SessionChanged));
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedIn]);
    assert_eq!(harness.store.load(), Some(someone_else()));
}

#[test]
fn a_refused_request_is_never_replayed_with_another_sessions_token() {
    let harness = signed_in();
    harness.server.expire_access_token();
    let outcome = block_on(async {
        let slow = RequestRecipe::get("/slow");
        let slow = harness.client.send(&slow);
        let elsewhere = async {
            until(|| !harness.server.requests_to("/slow").is_empty()).await;
            harness.store.save(&someone_else());
        };
        futures::join!(slow, elsewhere).0
    });
    assert_eq!(outcome, Err(SessionError::SessionChanged));
    assert_eq!(harness.server.requests_to("/slow").len(), 1);
    assert_eq!(harness.server.refreshes(), 0);
}

#[test]
fn a_lost_refresh_answer_is_retried_at_once_and_gets_the_same_child() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::RotateAndLoseTheAnswer);
    let outcome = block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(outcome.map(|response| response.status), Ok(200));
    assert_eq!(harness.server.refreshes(), 2, "one retry, with the same cookie, at once");
    assert_eq!(harness.server.issued.get(), 1, "one rotation: the retry got the same child");
    assert_eq!(stored_token(&harness).as_deref(), Some("t1"));
    for refresh in harness.server.refresh_requests() {
        assert!(
            refresh.timeout.is_some_and(|timeout| timeout <= Duration::from_secs(5)),
            "well inside the server's grace window (10 s by default for a Bearer session)"
        );
    }
    assert_eq!(*harness.events.borrow(), [SessionEvent::Renewed]);
}

#[test]
fn back_online_the_backoff_is_forgotten() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::Unreachable);
    let user = || block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(user(), Err(SessionError::Network));
    assert_eq!(user(), Err(SessionError::Network));
    let refreshes_while_offline = harness.server.refreshes();
    assert_eq!(refreshes_while_offline, 2, "the first attempt and its retry; then the backoff");

    harness.server.refresh_answer.set(RefreshAnswer::Rotate);
    harness.client.network_restored();
    assert_eq!(user().map(|response| response.status), Ok(200));
    assert_eq!(harness.server.refreshes(), refreshes_while_offline + 1);
}

#[test]
fn a_wall_clock_set_back_an_hour_does_not_freeze_renewals() {
    let harness = signed_in();
    harness.clock.set(10_000.0);
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::Unreachable);
    assert_eq!(block_on(harness.client.send(&RequestRecipe::get("/user"))), Err(SessionError::Network));
    let refreshes = harness.server.refreshes();

    harness.server.refresh_answer.set(RefreshAnswer::Rotate);
    harness.clock.0.set(10_000.0 - 3_600_000.0);
    harness.clock.1.set(10_000.0 + 1_001.0);
    assert_eq!(block_on(harness.client.send(&RequestRecipe::get("/user"))).map(|response| response.status), Ok(200));
    assert_eq!(
        harness.server.refreshes(),
        refreshes + 1,
        "the one-second backoff is over, whatever the wall clock says"
    );
}

thread_local! {
    static TEST_POOL: RefCell<Option<futures::executor::LocalSpawner>> = const { RefCell::new(None) };
}

fn spawn_on_the_test_pool(task: futures::future::LocalBoxFuture<'static, ()>) {
    use futures::task::LocalSpawnExt;
    TEST_POOL.with(|pool| pool.borrow().as_ref().map(|pool| pool.spawn_local(task)));
}

#[test]
fn a_refresh_whose_waiters_all_went_away_still_completes_and_releases_the_lock() {
    let mut pool = futures::executor::LocalPool::new();
    TEST_POOL.with(|test_pool| *test_pool.borrow_mut() = Some(pool.spawner()));
    let options = crate::Options { spawn: Some(spawn_on_the_test_pool), ..crate::Options::default() };
    let browser = two_tabs_signed_in_with(options, ONE_BROWSER);
    browser.server.expire_access_token();
    browser.server.hold(REFRESH_PATH);
    pool.run_until(async {
        let user = RequestRecipe::get("/user");
        let mut request = Box::pin(browser.tabs[0].send(&user));
        until_polled(&mut request, || browser.server.refreshes() == 1).await;
        // The page unmounts: the only request waiting for the refresh is dropped.
        drop(request);
    });
    browser.server.release(REFRESH_PATH);
    pool.run_until_stalled();
    assert_eq!(browser.store.load().map(|token| token.value).as_deref(), Some("t1"), "the rotated token was kept");
    assert!(browser.lock.try_lock().is_some(), "the cross-tab lock was released");
}

/// Polls `future` until `condition` holds, without finishing it.
async fn until_polled<F: Future + Unpin>(future: &mut F, condition: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if condition() {
            return;
        }
        assert!(futures::poll!(&mut *future).is_pending(), "it finished first");
        YieldOnce(false).await;
    }
    panic!("the condition never held");
}

#[test]
fn a_refused_request_whose_token_was_already_replaced_takes_no_lock() {
    let browser = two_tabs_signed_in();
    browser.server.expire_access_token();
    let (fast, slow) = (RequestRecipe::get("/fast"), RequestRecipe::get("/slow"));
    let (fast, slow) = block_on(async { futures::join!(browser.tabs[0].send(&fast), browser.tabs[1].send(&slow)) });
    assert!(fast.is_ok() && slow.is_ok());
    assert_eq!(browser.server.refreshes(), 1);
    assert_eq!(browser.locks_taken.get(), 1, "the slow tab saw the new token in the store and went on at once");
}

#[test]
fn a_sign_out_the_server_did_not_hear_is_told_at_the_next_start() {
    let harness = signed_in();
    harness.server.unreachable.set(true);
    block_on(harness.client.sign_out());
    assert!(harness.store.logout_pending());

    // The next start: a new client on the same store, the network back.
    harness.server.unreachable.set(false);
    let next_start = started_again(&harness);
    block_on(next_start.finish_pending_logout());
    assert_eq!(harness.server.requests_to(LOGOUT_PATH).len(), 2, "told again, and heard");
    assert!(!harness.store.logout_pending());
    block_on(next_start.finish_pending_logout());
    assert_eq!(harness.server.requests_to(LOGOUT_PATH).len(), 2, "only once");
}

#[test]
fn a_tab_closed_while_its_sign_out_waits_for_its_turn_is_signed_out_on_the_server_at_the_next_start() {
    let harness = signed_in();
    // A refresh on the wire holds the turn; the user signs out, then closes the tab before the logout goes.
    let _ = signed_in_with_a_refresh_on_the_wire(&harness, async || {
        let mut sign_out = Box::pin(harness.client.sign_out());
        until_polled(&mut sign_out, || harness.store.load().is_none()).await;
        assert!(futures::poll!(&mut sign_out).is_pending(), "still waiting for its turn");
    });
    assert!(harness.server.requests_to(LOGOUT_PATH).is_empty(), "the tab closed before the logout was sent");
    assert!(harness.store.logout_pending(), "remembered before the first wait");

    block_on(started_again(&harness).finish_pending_logout());
    assert_eq!(harness.server.requests_to(LOGOUT_PATH).len(), 1, "told at the next start");
    assert_eq!(*harness.server.jar.borrow(), None, "the server ended the session");
    assert!(!harness.store.logout_pending());
}

/// The next start of the page: a new client on the same store and server.
fn started_again(harness: &Harness) -> SessionClient<FakeTransport, MemoryStore, FakeClock, SingleTab> {
    SessionClient::new(
        FakeTransport(Rc::clone(&harness.server)),
        harness.store.clone(),
        harness.clock.clone(),
        SingleTab,
    )
}

#[test]
fn signing_in_again_drops_a_pending_logout_so_the_new_session_is_left_alone() {
    let harness = signed_in();
    harness.server.unreachable.set(true);
    block_on(harness.client.sign_out());
    harness.server.unreachable.set(false);
    block_on(harness.client.sign_in("demo", "right")).unwrap();
    assert!(!harness.store.logout_pending());
    block_on(harness.client.finish_pending_logout());
    assert_eq!(harness.server.requests_to(LOGOUT_PATH).len(), 1, "the new session's cookie is not sent to logout");
    assert_eq!(harness.store.load().map(|token| token.session).as_deref(), Some("demo-1"));
}

/// A store that implements only what it must: no memory of a pending logout.
struct ForgetfulStore(MemoryStore);

impl TokenStore for ForgetfulStore {
    fn load(&self) -> Option<AccessToken> {
        self.0.load()
    }
    fn save(&self, token: &AccessToken) {
        self.0.save(token);
    }
    fn clear(&self) {
        self.0.clear();
    }
}

#[test]
fn a_store_without_memory_of_pending_logouts_never_retries_one() {
    let server = FakeServer::new();
    let store = ForgetfulStore(MemoryStore::default());
    store.set_logout_pending(true);
    assert!(!store.logout_pending());
    let client = SessionClient::new(FakeTransport(Rc::clone(&server)), store, FakeClock::default(), SingleTab);
    block_on(client.finish_pending_logout());
    assert!(server.requests_to(LOGOUT_PATH).is_empty());
}
