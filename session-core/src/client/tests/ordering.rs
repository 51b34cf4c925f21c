//! Sign-in, sign-out and refresh happen in one order, in this tab and across tabs: a late answer of an old
//! session, or its late `Set-Cookie`, never undoes a newer one.

use super::*;

/// Runs `sign_out` and, a few turns later (the user typing), a sign-in as Bob, while the answers to `held` wait
/// on the wire; releases them 40 turns later. Returns the sign-in's outcome.
async fn sign_out_then_sign_in_as_bob(harness: &Harness, held: &str) -> Result<(), SessionError> {
    let sign_out = harness.client.sign_out();
    let sign_in = async {
        turns(3).await;
        harness.client.sign_in("bob", "right").await
    };
    let wire = async {
        turns(40).await;
        harness.server.release(held);
    };
    futures::join!(sign_out, sign_in, wire).1
}

/// Bob's session works and survives its own first refresh, which the server does not refuse.
fn assert_bob_stays_signed_in(harness: &Harness) {
    let bob = harness.store.load().expect("Bob's token is stored");
    assert!(bob.session.starts_with("bob"), "{bob:?}");
    assert_eq!(block_on(harness.client.send(&RequestRecipe::get("/user"))).map(|answer| answer.status), Ok(200));
    harness.server.expire_access_token();
    let refreshes = harness.server.refreshes();
    assert_eq!(
        block_on(harness.client.send(&RequestRecipe::get("/user"))).map(|answer| answer.status),
        Ok(200),
        "Bob's first refresh: cookie {:?}",
        harness.server.jar.borrow()
    );
    assert_eq!(harness.server.refreshes(), refreshes + 1);
    assert!(!harness.server.refresh_statuses.borrow().contains(&403), "{:?}", harness.server.refresh_statuses);
    assert_eq!(harness.store.load().map(|token| token.session), Some(bob.session));
    assert!(!harness.events.borrow().iter().any(|event| matches!(event, SessionEvent::Ended(_))));
}

#[test]
fn a_sign_in_after_a_sign_out_while_the_old_refresh_is_on_the_wire_is_never_undone() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.hold(REFRESH_PATH);
    let (old_request, signed_in_as_bob) = block_on(async {
        let old = RequestRecipe::get("/old");
        let old_request = harness.client.send(&old);
        let switch = async {
            until(|| harness.server.refreshes() == 1).await;
            sign_out_then_sign_in_as_bob(&harness, REFRESH_PATH).await
        };
        futures::join!(old_request, switch)
    });
    assert_eq!(signed_in_as_bob, Ok(()));
    assert!(old_request.is_err(), "the old session's request is not Bob's: {old_request:?}");
    assert!(
        harness
            .server
            .requests_to("/old")
            .iter()
            .all(|(_, bearer)| !bearer.as_deref().unwrap_or_default().contains("bob")),
        "never replayed with Bob's token"
    );
    assert_bob_stays_signed_in(&harness);
    assert_eq!(harness.events.borrow()[..2], [SessionEvent::SignedOut, SessionEvent::SignedIn]);
}

#[test]
fn a_sign_in_right_after_a_sign_out_on_a_slow_network_keeps_its_cookie() {
    let harness = signed_in();
    harness.server.hold(LOGOUT_PATH);
    assert_eq!(block_on(sign_out_then_sign_in_as_bob(&harness, LOGOUT_PATH)), Ok(()));
    assert_bob_stays_signed_in(&harness);
}

#[test]
fn a_sign_out_shows_at_once_whatever_the_logout_waits_for() {
    let harness = signed_in();
    harness.server.hold(LOGOUT_PATH);
    block_on(async {
        let sign_out = harness.client.sign_out();
        let look = async {
            turns(1).await;
            assert_eq!(harness.store.load(), None, "signed out here before the server heard");
            assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
            harness.server.release(LOGOUT_PATH);
        };
        futures::join!(sign_out, look)
    });
    assert_eq!(*harness.server.jar.borrow(), None);
}

#[test]
fn a_request_never_waits_on_another_sessions_renewal() {
    // A browser without Web Locks: each tab's lock is its own, so nothing orders the two tabs' changes (the old
    // refresh's cookie may even land after Bob's: that is what the lock is for). What holds even then: Bob's
    // request does not wait for the old session's refresh.
    let browser = two_tabs_signed_in_with(crate::Options::default(), Shared { web_locks: false, store: true });
    browser.server.expire_access_token();
    browser.server.hold(REFRESH_PATH);
    block_on(async {
        let old = RequestRecipe::get("/old");
        let old_request = browser.tabs[0].send(&old);
        let elsewhere = async {
            until(|| browser.server.refreshes() == 1).await;
            browser.tabs[1].sign_out().await;
            browser.tabs[1].sign_in("bob", "right").await.unwrap();
            // The first tab's next request is Bob's: it goes at once, while the old session's refresh still waits.
            let bobs = RequestRecipe::get("/bobs");
            let bobs = browser.tabs[0].send(&bobs);
            let watch = async {
                until(|| !browser.server.requests_to("/bobs").is_empty()).await;
                browser.server.release(REFRESH_PATH);
            };
            futures::join!(bobs, watch).0
        };
        let (_, bobs) = futures::join!(old_request, elsewhere);
        assert_eq!(bobs.map(|answer| answer.status), Ok(200));
    });
    let bobs = browser.server.requests_to("/bobs");
    assert_eq!(bobs.len(), 1);
    assert!(bobs[0].1.as_deref().is_some_and(|token| token.contains("bob")), "{bobs:?}");
}

#[test]
fn a_403_that_is_not_the_contracts_refusal_keeps_the_session() {
    for (answer, code) in
        [(RefreshAnswer::ForbiddenByAProxy, ErrorCode::Unknown), (RefreshAnswer::ForbiddenAsCsrf, ErrorCode::Csrf)]
    {
        let harness = signed_in();
        harness.server.expire_access_token();
        harness.server.refresh_answer.set(answer);
        let outcome = block_on(harness.client.send(&RequestRecipe::get("/user")));
        assert_eq!(outcome.as_ref().err().and_then(SessionError::code), Some(code), "{answer:?}: {outcome:?}");
        assert_eq!(stored_token(&harness).as_deref(), Some("t0"), "{answer:?}: the session is kept");
        assert!(harness.events.borrow().is_empty(), "{answer:?}: nobody hears of an ended session");
    }
}

#[test]
fn a_429_from_the_refresh_backs_off_for_its_retry_after() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.refresh_answer.set(RefreshAnswer::TooManyAttempts);
    let user = || block_on(harness.client.send(&RequestRecipe::get("/user")));
    assert_eq!(user().err().and_then(|error| error.code()), Some(ErrorCode::TooManyAttempts));
    assert_eq!(harness.server.refreshes(), 1, "not retried at once");
    harness.server.refresh_answer.set(RefreshAnswer::Rotate);
    harness.clock.set(4_999.0);
    assert_eq!(user().err().and_then(|error| error.code()), Some(ErrorCode::TooManyAttempts), "Retry-After: 5");
    assert_eq!(harness.server.refreshes(), 1);
    harness.clock.set(5_000.0);
    assert_eq!(user().map(|answer| answer.status), Ok(200));
    assert_eq!(harness.server.refreshes(), 2);
    assert_eq!(stored_token(&harness).as_deref(), Some("t1"));
}

#[test]
fn a_late_end_of_an_old_session_from_another_tab_does_not_end_the_new_one() {
    let harness = signed_in();
    block_on(harness.client.sign_out());
    block_on(harness.client.sign_in("bob", "right")).unwrap();
    let bob = harness.store.load();
    for event in [SessionEvent::Ended(EndReason::Expired), SessionEvent::SignedOut] {
        harness.client.receive_from_other_tab(News::of_session(event, Some("s0".to_owned())));
        assert_eq!(harness.store.load(), bob, "{event:?} of the old session");
    }
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut, SessionEvent::SignedIn], "nobody heard it");
}

/// Tabs whose views of the store are their own: WebKit's late localStorage, or each tab's memory.
fn tabs_with_their_own_views() -> TwoTabs {
    two_tabs_signed_in_with(crate::Options::default(), Shared { web_locks: true, store: false })
}

#[test]
fn a_tab_whose_view_of_the_store_lags_takes_the_renewed_token_from_the_news_and_does_not_refresh_again() {
    let browser = tabs_with_their_own_views();
    browser.server.expire_access_token();
    let (first, second) = (RequestRecipe::get("/first"), RequestRecipe::get("/second"));
    let (first, second) =
        block_on(async { futures::join!(browser.tabs[0].send(&first), browser.tabs[1].send(&second)) });
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    assert_eq!(browser.server.refreshes(), 1, "one rotation: {:?}", browser.server.refresh_statuses);
    assert_eq!(browser.tabs[1].store().load().map(|token| token.value).as_deref(), Some("t1"));
}

#[test]
fn signing_out_or_in_in_one_tab_reaches_a_tab_that_keeps_its_token_in_memory() {
    let browser = tabs_with_their_own_views();
    block_on(browser.tabs[0].sign_out());
    assert_eq!(browser.tabs[1].store().load(), None, "signed out in the other tab's memory too");
    assert_eq!(*browser.events[1].borrow(), [SessionEvent::SignedOut]);
    block_on(browser.tabs[0].sign_in("bob", "right")).unwrap();
    assert_eq!(browser.tabs[1].store().load(), browser.store.load(), "and signed in there as Bob");
    assert_eq!(block_on(browser.tabs[1].send(&RequestRecipe::get("/user"))).map(|answer| answer.status), Ok(200));
}

/// Signs out while this tab's own refresh is on the wire, so the logout waits for its turn; meanwhile the store
/// comes to hold `meanwhile` (another tab's write), and then the refresh's answer arrives.
fn sign_out_while_the_store_changes_before_the_logouts_turn(harness: &Harness, meanwhile: &AccessToken) {
    harness.server.expire_access_token();
    harness.server.hold(REFRESH_PATH);
    block_on(async {
        let old = RequestRecipe::get("/old");
        let old_request = harness.client.send(&old);
        let sign_out = async {
            until(|| harness.server.refreshes() == 1).await;
            let sign_out = harness.client.sign_out();
            let elsewhere = async {
                turns(5).await;
                harness.store.save(meanwhile);
                turns(5).await;
                harness.server.release(REFRESH_PATH);
            };
            futures::join!(sign_out, elsewhere)
        };
        // The old request's outcome depends on the write: not what these tests are about.
        drop(futures::join!(old_request, sign_out));
    });
}

#[test]
fn a_sign_out_whose_session_is_written_back_meanwhile_still_reaches_the_server() {
    // Another tab, whose view of localStorage had not caught up with the sign-out, writes its renewal of the same
    // session back.
    let harness = signed_in();
    let written_back = AccessToken::new("t9", "s0", Some(900_000.0), Duration::from_secs(900));
    sign_out_while_the_store_changes_before_the_logouts_turn(&harness, &written_back);
    assert_eq!(harness.server.requests_to(LOGOUT_PATH).len(), 1, "the logout was sent");
    assert_eq!(harness.store.load(), None, "and the session written back is gone again");
    assert_eq!(*harness.server.jar.borrow(), None);
}

#[test]
fn a_late_sign_in_of_the_session_this_tab_signed_out_does_not_sign_it_back_in() {
    let harness = signed_in();
    let before = harness.store.load().unwrap();
    block_on(harness.client.sign_out());
    harness.client.receive_from_other_tab(News::of_token(SessionEvent::SignedIn, before));
    assert_eq!(harness.store.load(), None);
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
}

#[test]
fn without_a_spawner_a_refresh_nobody_waits_for_any_more_does_not_block_the_next_sign_in() {
    let harness = signed_in();
    harness.server.expire_access_token();
    harness.server.hold(REFRESH_PATH);
    block_on(async {
        let user = RequestRecipe::get("/user");
        let mut request = Box::pin(harness.client.send(&user));
        until_polled(&mut request, || harness.server.refreshes() == 1).await;
        // The page unmounts: the only request waiting for the refresh is dropped, and nothing drives it now.
        drop(request);
        let sign_in = harness.client.sign_in("bob", "right");
        let wire = async {
            turns(20).await;
            harness.server.release(REFRESH_PATH);
        };
        assert_eq!(futures::join!(sign_in, wire).0, Ok(()));
    });
    assert!(harness.store.load().is_some_and(|token| token.session.starts_with("bob")));
}

#[test]
fn a_message_without_the_token_it_should_carry_changes_nothing() {
    let harness = signed_in();
    let before = harness.store.load();
    for event in [SessionEvent::SignedIn, SessionEvent::Renewed] {
        harness.client.receive_from_other_tab(News::of_session(event, None));
        assert_eq!(harness.store.load(), before, "{event:?}");
    }
}

#[test]
fn a_sign_out_whose_turn_comes_after_someone_signed_in_leaves_their_session_alone() {
    // Another tab, in a browser without Web Locks, signed in meanwhile.
    let harness = signed_in();
    sign_out_while_the_store_changes_before_the_logouts_turn(&harness, &someone_else());
    assert!(harness.server.requests_to(LOGOUT_PATH).is_empty(), "the cookie is the new session's now");
    assert_eq!(harness.store.load(), Some(someone_else()));
}

/// A client whose store was empty when it started, as a page that read localStorage before another page's
/// sign-in reached it.
fn started_signed_out() -> Harness {
    let harness = signed_in();
    harness.store.clear();
    let client = SessionClient::new(
        FakeTransport(Rc::clone(&harness.server)),
        harness.store.clone(),
        harness.clock.clone(),
        SingleTab,
    );
    let events = record_events(&client);
    Harness { client, events, ..harness }
}

/// How the client starts, what another page writes, the news that follows, what this tab's listeners hear.
type StoreChange = (fn() -> Harness, Option<AccessToken>, Option<News>, &'static [SessionEvent]);

#[test]
fn a_session_reaching_the_shared_store_without_news_is_told_once_whichever_comes_first() {
    let renewed = AccessToken::new("t1", "s0", Some(960_000.0), Duration::from_secs(900));
    let table: [StoreChange; 7] = [
        // The page started signed out; the sign-in's write lands late, its announcement went before it listened.
        (started_signed_out, Some(someone_else()), None, &[SessionEvent::SignedIn]),
        // Both reach it: the announcement after the write is not a second sign-in.
        (
            started_signed_out,
            Some(someone_else()),
            Some(News::of_token(SessionEvent::SignedIn, someone_else())),
            &[SessionEvent::SignedIn],
        ),
        // Another user signed in over this tab's session: the page must not go on showing the last one's data.
        (signed_in, Some(someone_else()), None, &[SessionEvent::SignedIn]),
        // A renewal of the session this tab shows is no news to its listeners.
        (signed_in, Some(renewed.clone()), None, &[]),
        // The session this tab shows, gone without news: signed out here too; its announcement after it is no
        // second sign-out.
        (signed_in, None, None, &[SessionEvent::SignedOut]),
        (
            signed_in,
            None,
            Some(News::of_session(SessionEvent::SignedOut, Some("s0".to_owned()))),
            &[SessionEvent::SignedOut],
        ),
        (started_signed_out, None, None, &[]),
    ];
    for (client, written, news, heard) in table {
        let harness = client();
        match &written {
            Some(token) => harness.store.save(token),
            None => harness.store.clear(),
        }
        harness.client.store_changed_elsewhere();
        if let Some(news) = news {
            harness.client.receive_from_other_tab(news);
        }
        assert_eq!(*harness.events.borrow(), heard, "{written:?}");
        assert_eq!(harness.store.load(), written, "the store is the other page's to write");
    }
}

#[test]
fn an_announced_sign_in_reaching_the_store_afterwards_is_not_told_again() {
    let harness = started_signed_out();
    harness.client.receive_from_other_tab(News::of_token(SessionEvent::SignedIn, someone_else()));
    harness.client.store_changed_elsewhere();
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedIn]);
}

#[test]
fn the_session_this_tab_signed_out_written_back_by_a_late_tab_does_not_sign_it_back_in() {
    let harness = signed_in();
    let before = harness.store.load().unwrap();
    block_on(harness.client.sign_out());
    harness.store.save(&before);
    harness.client.store_changed_elsewhere();
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
}

#[test]
fn an_end_announced_after_the_store_lost_the_session_is_still_heard_for_its_reason() {
    let harness = signed_in();
    harness.store.clear();
    harness.client.store_changed_elsewhere();
    harness
        .client
        .receive_from_other_tab(News::of_session(SessionEvent::Ended(EndReason::Reused), Some("s0".to_owned())));
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut, SessionEvent::Ended(EndReason::Reused)]);
    // And the session, written back late by a tab that had not heard, does not come back.
    harness.store.save(&AccessToken::new("t1", "s0", Some(960_000.0), Duration::from_secs(900)));
    harness.client.store_changed_elsewhere();
    assert_eq!(harness.events.borrow().len(), 2);
}

#[test]
fn a_renewal_of_a_session_the_listeners_do_not_know_is_a_sign_in_to_them() {
    // The store holds s1 (its storage event still queued), and another tab's renewal of s1 is heard first.
    let harness = started_signed_out();
    let renewed = AccessToken::new("u1", "s1", Some(960_000.0), Duration::from_secs(900));
    harness.store.save(&someone_else());
    harness.client.receive_from_other_tab(News::of_token(SessionEvent::Renewed, renewed));
    harness.client.store_changed_elsewhere();
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedIn]);
}

#[test]
fn signing_out_of_a_session_the_listeners_have_not_heard_of_yet_is_still_told() {
    // Another page's sign-in reached the store; its storage event and its announcement are still queued here.
    let harness = started_signed_out();
    harness.store.save(&someone_else());
    block_on(harness.client.sign_out());
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
    // The news that comes in after changes nothing: the sign-out stands.
    harness.client.store_changed_elsewhere();
    harness.client.receive_from_other_tab(News::of_token(SessionEvent::SignedIn, someone_else()));
    assert_eq!(*harness.events.borrow(), [SessionEvent::SignedOut]);
    assert_eq!(harness.store.load(), None);
}
