//! DPoP in the client: the sign-in binds the session to the device's key, every request of a bound session
//! proves it, a server's nonce is adopted and the request sent once more (never a refresh, never a sign-out),
//! and the sign-out forgets the key once the server heard it.

use std::rc::Rc;

use futures::executor::block_on;
use serde_json::Value;
use session_contract::paths::{LOGIN as LOGIN_PATH, LOGOUT as LOGOUT_PATH, REFRESH as REFRESH_PATH};

use super::fakes::{FakeClock, FakeServer, FakeTransport, MemoryStore, ORIGIN};
use crate::dpop::tests::{KnownKey, known_hash};
use crate::{AccessToken, Options, SessionClient, SessionError, SingleTab, TokenStore};

type KeyedClient = SessionClient<FakeTransport, MemoryStore, FakeClock, SingleTab, &'static KnownKey>;

struct Keyed {
    server: Rc<FakeServer>,
    store: MemoryStore,
    key: &'static KnownKey,
    clock: FakeClock,
    client: KeyedClient,
}

/// The clocks' reading when [`with_a_key`] starts, in milliseconds.
const SIGNED_IN_AT: f64 = 1_800_000_000_000.0;

/// Signed out, with a device key; the clock at 1_800_000_000 s.
fn with_a_key() -> Keyed {
    let server = FakeServer::new();
    *server.jar.borrow_mut() = None;
    let store = MemoryStore::default();
    let clock = FakeClock::default();
    clock.set(SIGNED_IN_AT);
    // Leaked: a test's key lives as long as the test process, as the client's adapters must.
    let key: &'static KnownKey = Box::leak(Box::default());
    let transport = FakeTransport(Rc::clone(&server));
    let client =
        SessionClient::with_device_key(transport, store.clone(), clock.clone(), SingleTab, key, Options::default());
    Keyed { server, store, key, clock, client }
}

fn header_of(server: &FakeServer, path: &str, at: usize, name: &str) -> Option<String> {
    let requests = server.requests_to(path);
    let (request, _) = &requests[at];
    request.headers.iter().find(|(header, _)| header.eq_ignore_ascii_case(name)).map(|(_, value)| value.clone())
}

#[test]
fn a_sign_in_with_a_device_key_binds_the_session_and_each_request_proves_it() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    let sign_in = keyed.server.proofs_to(LOGIN_PATH)[0].clone().expect("the sign-in carries a proof");
    assert_eq!(sign_in["htm"], "POST");
    assert_eq!(sign_in["htu"], format!("{ORIGIN}{LOGIN_PATH}"));
    assert_eq!(sign_in["iat"], 1_800_000_000);
    assert_eq!(sign_in.get("ath"), None);
    let token = keyed.store.load().expect("signed in");
    assert!(token.bound, "the server said DPoP");
    assert!(!keyed.client.device_key_unavailable());
    assert_eq!(keyed.key.made.get(), 1, "the sign-in made the session's key");
    assert_eq!(keyed.key.kept.get(), Some(1), "and kept it once the server took it");

    let answer: Value = block_on(keyed.client.get_json("/user?tab=1")).unwrap();
    assert_eq!(answer["ok"], true);
    let (request, bearer) = keyed.server.requests_to("/user?tab=1")[0].clone();
    assert_eq!(bearer, None, "never as Bearer");
    assert_eq!(header_of(&keyed.server, "/user?tab=1", 0, "Authorization"), Some(format!("DPoP {}", token.value)));
    let proof = keyed.server.proofs_to("/user?tab=1")[0].clone().expect("a proof");
    assert_eq!(proof["htm"], "GET");
    assert_eq!(proof["htu"], format!("{ORIGIN}/user"), "without the query");
    assert_eq!(proof["ath"], known_hash(&token.value));
    assert_ne!(proof["jti"], sign_in["jti"]);
    assert_eq!(request.path, "/user?tab=1");
}

#[test]
fn a_demanded_nonce_is_adopted_and_the_request_sent_once_more_not_refreshed() {
    let keyed = with_a_key();
    *keyed.server.demanded_nonce.borrow_mut() = Some("n1".to_owned());
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    let proofs = keyed.server.proofs_to(LOGIN_PATH);
    assert_eq!(proofs.len(), 2, "refused for the nonce, then sent once more");
    assert_eq!(proofs[0].as_ref().unwrap().get("nonce"), None);
    assert_eq!(proofs[1].as_ref().unwrap()["nonce"], "n1");

    // The server moves on to another nonce: the next request is refused for it once, and sent again with it.
    *keyed.server.demanded_nonce.borrow_mut() = Some("n2".to_owned());
    let answer: Value = block_on(keyed.client.get_json("/user")).unwrap();
    assert_eq!(answer["ok"], true);
    assert_eq!(keyed.server.refreshes(), 0, "a nonce is not a reason to refresh");
    assert_eq!(keyed.server.proofs_to("/user")[1].as_ref().unwrap()["nonce"], "n2");
    assert!(keyed.store.load().is_some(), "nor to sign out");
}

#[test]
fn a_nonce_refused_again_is_the_callers_error_not_a_loop_or_a_refresh() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    // A server that wants a nonce it never gives: the client tries once more, then reports it.
    *keyed.server.demanded_nonce.borrow_mut() = Some("never given".to_owned());
    *keyed.server.next_nonce.borrow_mut() = Some("another".to_owned());
    let outcome = block_on(keyed.client.get_json::<Value>("/user"));
    assert!(matches!(outcome, Err(SessionError::Status { status: 401, .. })), "{outcome:?}");
    assert_eq!(keyed.server.requests_to("/user").len(), 2);
    assert_eq!(keyed.server.refreshes(), 0);
    assert!(keyed.store.load().is_some());
}

#[test]
fn every_answers_nonce_replaces_the_one_kept() {
    let keyed = with_a_key();
    *keyed.server.next_nonce.borrow_mut() = Some("from the sign-in".to_owned());
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    *keyed.server.next_nonce.borrow_mut() = Some("from the first request".to_owned());
    block_on(keyed.client.get_json::<Value>("/user")).unwrap();
    block_on(keyed.client.get_json::<Value>("/user")).unwrap();
    let proofs = keyed.server.proofs_to("/user");
    assert_eq!(proofs[0].as_ref().unwrap()["nonce"], "from the sign-in");
    assert_eq!(proofs[1].as_ref().unwrap()["nonce"], "from the first request");
}

#[test]
fn a_bound_sessions_refresh_proves_the_key_and_its_retry_has_a_proof_of_its_own() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    keyed.server.refresh_answer.set(super::fakes::RefreshAnswer::RotateAndLoseTheAnswer);
    keyed.server.expire_access_token();
    // The first refresh's answer is lost; the retry gets the same child inside the grace window.
    let first = block_on(keyed.client.get_json::<Value>("/user"));
    let proofs = keyed.server.proofs_to(REFRESH_PATH);
    assert!(proofs.iter().all(Option::is_some), "every refresh carries a proof");
    assert_eq!(proofs[0].as_ref().unwrap()["htu"], format!("{ORIGIN}{REFRESH_PATH}"));
    assert_ne!(proofs[0].as_ref().unwrap()["jti"], proofs[1].as_ref().unwrap()["jti"], "never one proof twice");
    drop(first);
    assert!(keyed.store.load().is_some_and(|token| token.bound), "the renewed token is bound too");
}

#[test]
fn signing_out_proves_the_key_and_forgets_it_once_the_server_heard() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    keyed.server.unreachable.set(true);
    block_on(keyed.client.sign_out());
    assert_eq!(keyed.key.forgotten.get(), 0, "kept for the sign-out the server has not heard");
    keyed.server.unreachable.set(false);
    block_on(keyed.client.finish_pending_logout());
    let proofs = keyed.server.proofs_to(LOGOUT_PATH);
    assert!(proofs.last().unwrap().is_some(), "the sign-out proves the key");
    assert_eq!(keyed.key.forgotten.get(), 1, "then the key goes");
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    assert_eq!(keyed.key.made.get(), 2, "the next sign-in makes a new one");
}

#[test]
fn without_a_device_key_the_session_is_bearer_and_the_client_says_so() {
    let server = FakeServer::new();
    let store = MemoryStore::default();
    let client = SessionClient::new(FakeTransport(Rc::clone(&server)), store.clone(), FakeClock::default(), SingleTab);
    block_on(client.sign_in("ada", "right")).unwrap();
    assert!(client.device_key_unavailable());
    assert_eq!(server.proofs_to(LOGIN_PATH), [None]);
    assert!(store.load().is_some_and(|token| !token.bound));
    block_on(client.get_json::<Value>("/user")).unwrap();
    assert_eq!(server.requests_to("/user")[0].1.as_deref(), Some(store.load().unwrap().value.as_str()), "Bearer");
}

#[test]
fn a_sign_in_that_fails_leaves_the_key_there_was() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    let refused = block_on(keyed.client.sign_in("ada", "wrong"));
    assert!(matches!(refused, Err(SessionError::Status { status: 401, .. })), "{refused:?}");
    assert_eq!(keyed.key.made.get(), 2, "a key was made for the attempt");
    assert_eq!(keyed.key.kept.get(), Some(1), "but the session's key is the one kept");
}

#[test]
fn a_bound_session_whose_key_is_gone_ends_instead_of_looping() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    // Site data cleared, or the database closed under the page: the key is gone.
    keyed.key.kept.set(None);
    let outcome = block_on(keyed.client.get_json::<Value>("/user"));
    assert_eq!(outcome.err(), Some(SessionError::SessionExpired));
    assert_eq!(keyed.server.requests_to("/user").len(), 0, "never sent as Bearer, nor without its proof");
    assert_eq!(keyed.server.refreshes(), 0, "no refresh loop");
    assert!(keyed.store.load().is_none(), "the session is over here");
}

#[test]
fn a_key_that_cannot_be_read_for_a_moment_fails_that_request_and_keeps_the_session() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    // The key is there, but IndexedDB fails to read it just now (WebKit's "connection lost").
    keyed.key.unreadable.set(true);
    let outcome = block_on(keyed.client.get_json::<Value>("/user"));
    assert_eq!(outcome.err(), Some(SessionError::DeviceKey), "this request's error, for the page to show");
    assert_eq!(keyed.server.requests_to("/user").len(), 0, "never sent as Bearer, nor without its proof");
    assert!(keyed.store.load().is_some(), "no sign-out for a read that failed");

    keyed.key.unreadable.set(false);
    let answer: Value = block_on(keyed.client.get_json("/user")).unwrap();
    assert_eq!(answer["ok"], true, "the next request proves with the same key");
    assert_eq!(keyed.server.refreshes(), 0);
}

#[test]
fn a_renewal_whose_key_cannot_be_read_is_retried_later_not_taken_for_a_lost_key() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    // Half a minute before the token's 15 minutes are up, the key fails to read: the renewal cannot prove it.
    keyed.clock.set(SIGNED_IN_AT + 870_000.0);
    keyed.key.unreadable.set(true);
    let outcome = block_on(keyed.client.get_json::<Value>("/user"));
    assert_eq!(outcome.err(), Some(SessionError::DeviceKey));
    assert_eq!(keyed.server.refreshes(), 0, "no refresh sent without the key's proof");
    assert!(keyed.store.load().is_some(), "still signed in");

    keyed.key.unreadable.set(false);
    keyed.clock.set(SIGNED_IN_AT + 890_000.0);
    let answer: Value = block_on(keyed.client.get_json("/user")).unwrap();
    assert_eq!(answer["ok"], true, "renewed with the key's proof once it reads again");
    assert_eq!(keyed.server.refreshes(), 1);
    assert!(keyed.server.proofs_to(REFRESH_PATH)[0].is_some());
}

#[test]
fn a_sign_out_whose_key_cannot_be_read_stays_pending_and_is_proved_later() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    keyed.key.unreadable.set(true);
    block_on(keyed.client.sign_out());
    assert!(keyed.store.load().is_none(), "signed out here at once");
    assert_eq!(keyed.server.requests_to(LOGOUT_PATH).len(), 0, "not sent without the proof the server needs");
    assert!(keyed.store.logout_pending(), "the server is told later");
    assert_eq!(keyed.key.forgotten.get(), 0, "the key stays for that proof");

    keyed.key.unreadable.set(false);
    block_on(keyed.client.finish_pending_logout());
    assert!(keyed.server.proofs_to(LOGOUT_PATH)[0].is_some(), "the sign-out proves the key");
    assert!(!keyed.store.logout_pending());
    assert_eq!(keyed.key.forgotten.get(), 1);
}

#[test]
fn a_request_that_finds_its_sessions_key_gone_leaves_the_session_stored_since() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    // While this request reads the key, another tab signs out (the key goes) and someone else signs in there
    // as a Bearer session (no key could be made for it).
    let elsewhere = keyed.store.clone();
    let key = keyed.key;
    let someone_else = AccessToken {
        value: "another.session.token".to_owned(),
        session: "token".to_owned(),
        expires_at_ms: None,
        lifetime: std::time::Duration::ZERO,
        bound: false,
    };
    let signed_in_since = someone_else.clone();
    *keyed.key.while_read.borrow_mut() = Some(Box::new(move || {
        key.kept.set(None);
        elsewhere.save(&signed_in_since);
    }));
    let outcome = block_on(keyed.client.get_json::<Value>("/user"));
    assert_eq!(outcome.err(), Some(SessionError::SessionChanged), "this request's session is not the stored one");
    assert_eq!(keyed.store.load(), Some(someone_else), "the new session is not ended for the old one's key");
}

#[test]
fn a_pending_sign_out_whose_key_still_cannot_be_read_at_the_next_start_clears_the_cookie_without_it() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    keyed.key.unreadable.set(true);
    block_on(keyed.client.sign_out());
    assert!(keyed.store.logout_pending());
    // The next start, the key still unreadable (or IndexedDB blocked for good): waiting longer would leave the
    // session's cookie in the browser at every start. Sent without the proof, the cookie is cleared (a bound
    // session then has no cookie anywhere; a Bearer one ends).
    block_on(keyed.client.finish_pending_logout());
    assert_eq!(keyed.server.proofs_to(LOGOUT_PATH), vec![None], "sent once, without the proof it cannot make");
    assert!(keyed.server.jar.borrow().is_none(), "the browser's refresh cookie is cleared");
    assert!(!keyed.store.logout_pending());
}

#[test]
fn a_sign_out_the_server_asks_to_wait_for_stays_pending() {
    let keyed = with_a_key();
    block_on(keyed.client.sign_in("ada", "right")).unwrap();
    keyed.server.throttles_sign_outs.set(true);
    block_on(keyed.client.sign_out());
    assert!(keyed.store.logout_pending(), "429: the server did not end the session, so it is told again later");
    assert_eq!(keyed.key.forgotten.get(), 0, "the key stays for that proof");
    keyed.server.throttles_sign_outs.set(false);
    block_on(keyed.client.finish_pending_logout());
    assert!(!keyed.store.logout_pending());
    assert!(keyed.server.jar.borrow().is_none());
    assert_eq!(keyed.key.forgotten.get(), 1);
}

/// A store that notes which key the device keeps at the moment a token arrives: what another tab, woken by the
/// store's change, would find.
struct Watching {
    store: MemoryStore,
    key: &'static KnownKey,
    kept_when_saved: Rc<std::cell::Cell<Option<Option<u32>>>>,
}

impl TokenStore for Watching {
    fn load(&self) -> Option<crate::AccessToken> {
        self.store.load()
    }
    fn save(&self, token: &crate::AccessToken) {
        self.kept_when_saved.set(Some(self.key.kept.get()));
        self.store.save(token);
    }
    fn clear(&self) {
        self.store.clear();
    }
}

#[test]
fn a_bound_sign_in_reaches_the_store_only_once_its_key_is_kept() {
    let server = FakeServer::new();
    *server.jar.borrow_mut() = None;
    let key: &'static KnownKey = Box::leak(Box::default());
    let kept_when_saved = Rc::default();
    let store = Watching { store: MemoryStore::default(), key, kept_when_saved: Rc::clone(&kept_when_saved) };
    let transport = FakeTransport(Rc::clone(&server));
    let client =
        SessionClient::with_device_key(transport, store, FakeClock::default(), SingleTab, key, Options::default());
    block_on(client.sign_in("ada", "right")).unwrap();
    // Another tab hears of the token from the store: it must find the key that proves it, not none (which would
    // end the new session) nor the previous one.
    assert_eq!(kept_when_saved.get(), Some(Some(1)), "the key made for this sign-in was kept first");
}
