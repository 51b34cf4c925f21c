use std::time::Duration;

use js_sys::{Object, Reflect, Uint8Array};
use session_core::{DeviceKey, KeyPair};
use session_leptos::browser::WebCryptoKey;
use session_leptos::testing::{patch, sleep, stored_device_key};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn subtle() -> web_sys::SubtleCrypto {
    web_sys::window().unwrap().crypto().unwrap().subtle()
}

/// Whether `signature` of `data` verifies with the public key `x`, `y` (imported as a page would).
async fn verifies(x: &str, y: &str, data: &[u8], signature: &[u8]) -> bool {
    let jwk = Object::new();
    for (name, value) in [("kty", "EC"), ("crv", "P-256"), ("x", x), ("y", y)] {
        Reflect::set(&jwk, &name.into(), &value.into()).unwrap();
    }
    let algorithm = web_sys::EcKeyImportParams::new("ECDSA");
    algorithm.set_named_curve("P-256");
    let usages = js_sys::Array::of1(&"verify".into());
    let import = subtle().import_key_with_object("jwk", &jwk, &algorithm, true, &usages).unwrap();
    let public: web_sys::CryptoKey = JsFuture::from(import).await.unwrap().unchecked_into();
    let params = web_sys::EcdsaParams::new("ECDSA", &"SHA-256".into());
    let verify = subtle().verify_with_object_and_u8_array_and_u8_array(&params, &public, signature, data).unwrap();
    JsFuture::from(verify).await.unwrap().as_bool().unwrap()
}

#[wasm_bindgen_test]
async fn a_device_key_per_sign_in_shared_by_the_tabs_signs_verifiably_and_its_private_half_never_leaves() {
    let key = WebCryptoKey::default();
    key.forget().await;
    assert!(key.current().await.unwrap().is_none(), "no key before a sign-in keeps one");

    let made = key.make().await.unwrap();
    assert!(key.current().await.unwrap().is_none(), "made, not kept until the sign-in succeeds");
    key.keep(&made).await.unwrap();
    let public = key.current().await.unwrap().unwrap().public_key().await.unwrap();
    assert_eq!((public.x.len(), public.y.len()), (43, 43), "32-byte coordinates, base64url");
    assert_eq!(made.public_key().await.unwrap(), public);
    let another_tab = WebCryptoKey::default();
    assert_eq!(another_tab.current().await.unwrap().unwrap().public_key().await.unwrap(), public, "every tab reads it");
    let next = key.make().await.unwrap();
    assert_ne!(next.public_key().await.unwrap(), public, "each sign-in makes a new key");
    let key_pair = key.current().await.unwrap().unwrap();

    let signature = key_pair.sign(b"header.claims").await.unwrap();
    assert_eq!(signature.len(), 64, "r and s, as JWS ES256 wants them");
    assert!(verifies(&public.x, &public.y, b"header.claims", &signature).await);
    assert!(!verifies(&public.x, &public.y, b"another input", &signature).await);

    // What a script of the page can reach: the stored pair, whose private key refuses to be exported.
    let stored = stored_device_key().await.expect("kept in IndexedDB");
    let private = stored.get_private_key();
    assert!(!private.extractable());
    let export = subtle().export_key("jwk", &private).unwrap();
    assert!(JsFuture::from(export).await.is_err(), "the private key cannot be exported");

    key.forget().await;
    assert!(another_tab.current().await.unwrap().is_none(), "forgotten for every tab");
    assert!(stored_device_key().await.is_none());
}

#[wasm_bindgen_test]
async fn digests_and_ids_are_the_browsers_own() {
    let key = WebCryptoKey::default();
    let digest = key.sha256(b"abc").await.unwrap();
    let expected = Uint8Array::from(
        &[
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03,
            0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
        ][..],
    )
    .to_vec();
    assert_eq!(digest, expected, "FIPS 180-2's SHA-256 of \"abc\"");
    let (one, two) = (key.random_id(), key.random_id());
    assert_eq!(one.len(), 36);
    assert_ne!(one, two);
}

#[wasm_bindgen_test]
async fn where_indexed_db_refuses_the_key_is_kept_in_this_tab_and_still_signs() {
    // Storage blocked for the site (a browser set to keep no site data): IndexedDB refuses to open, WebCrypto
    // still makes keys. The sign-in binds the session to its key; this tab must go on proving with it.
    let blocked = patch(
        "window.openBeforeBlocked = IDBFactory.prototype.open;
         IDBFactory.prototype.open = function () { throw new DOMException('blocked', 'SecurityError'); };",
        "IDBFactory.prototype.open = window.openBeforeBlocked;",
    );
    let key = WebCryptoKey::default();
    let made = key.make().await.unwrap();
    let public = made.public_key().await.unwrap();
    assert!(key.keep(&made).await.is_ok(), "kept, in this tab's memory");
    let current = key.current().await.unwrap().expect("this tab still has the session's key");
    assert_eq!(current.public_key().await.unwrap(), public);
    assert!(
        WebCryptoKey::default().current().await.is_err(),
        "another tab cannot read it: a failure, not a key that is gone (this tab's session goes on)"
    );

    // IndexedDB works again, and another tab signs in with a key of its own: that one is every tab's now.
    drop(blocked);
    let another_tab = WebCryptoKey::default();
    let newer = another_tab.make().await.unwrap();
    another_tab.keep(&newer).await.unwrap();
    let newer = newer.public_key().await.unwrap();
    assert_eq!(key.current().await.unwrap().unwrap().public_key().await.unwrap(), newer, "not the one left in memory");
    key.forget().await;
    assert!(key.current().await.unwrap().is_none(), "forgotten here too");
}

#[wasm_bindgen_test]
async fn a_key_indexed_db_refuses_to_write_but_reads_is_not_shadowed_by_the_previous_sessions() {
    let key = WebCryptoKey::default();
    let previous = key.make().await.unwrap();
    key.keep(&previous).await.unwrap();
    // Writes fail (quota), reads still work: IndexedDB still holds the previous session's pair.
    let _refusing = patch(
        "window.putBeforeQuota = IDBObjectStore.prototype.put;
         IDBObjectStore.prototype.put = function () { throw new DOMException('full', 'QuotaExceededError'); };",
        "IDBObjectStore.prototype.put = window.putBeforeQuota;",
    );
    let made = key.make().await.unwrap();
    key.keep(&made).await.unwrap();
    let current = key.current().await.unwrap().unwrap().public_key().await.unwrap();
    assert_eq!(current, made.public_key().await.unwrap(), "this sign-in's key, not the previous session's");
    key.forget().await;
}

#[wasm_bindgen_test]
async fn a_key_read_on_a_lost_connection_is_read_again_on_a_new_one_and_a_read_that_keeps_failing_is_no_lost_key() {
    let key = WebCryptoKey::default();
    let made = key.make().await.unwrap();
    key.keep(&made).await.unwrap();
    let public = made.public_key().await.unwrap();
    // WebKit loses a page's connection to its database process (a tab long in the background): every request on
    // that connection fails, while the key is still stored and a new connection reads it.
    let lost = patch(
        "window.getBeforeLoss = IDBObjectStore.prototype.get;
         window.loseNextConnection = true;
         window.lostConnections = [];
         IDBObjectStore.prototype.get = function (key) {
           const request = window.getBeforeLoss.call(this, key);
           const db = this.transaction.db;
           if (window.loseNextConnection) { window.loseNextConnection = false; window.lostConnections.push(db); }
           if (window.lostConnections.includes(db)) this.transaction.abort();
           return request;
         };",
        "IDBObjectStore.prototype.get = window.getBeforeLoss;",
    );
    let current = key.current().await.expect("read again on a new connection");
    assert_eq!(current.expect("the key is still there").public_key().await.unwrap(), public);

    // Every connection fails to read: the key may still be there, so this is a failure, not "no key".
    let failing = patch(
        "window.lostGet = IDBObjectStore.prototype.get;
         IDBObjectStore.prototype.get = function (key) {
           const request = window.lostGet.call(this, key);
           this.transaction.abort();
           return request;
         };",
        "IDBObjectStore.prototype.get = window.lostGet;",
    );
    assert!(WebCryptoKey::default().current().await.is_err(), "a failed read, never taken for a key that is gone");
    drop(failing);
    drop(lost);
    let read = WebCryptoKey::default().current().await.unwrap().expect("read once IndexedDB answers again");
    assert_eq!(read.public_key().await.unwrap(), public);
    key.forget().await;
}

#[wasm_bindgen_test]
async fn a_connection_the_browser_closed_and_cannot_open_again_is_a_failure_not_a_key_that_is_gone() {
    let key = WebCryptoKey::default();
    let made = key.make().await.unwrap();
    key.keep(&made).await.unwrap();
    // WebKit marks the page's connection as closing (`transaction` throws), and the database process does not
    // take a new one for now (`open` fails, as its request's error event says).
    let closed = patch(
        "window.transactionBeforeClosing = IDBDatabase.prototype.transaction;
         window.openBeforeClosing = IDBFactory.prototype.open;
         IDBDatabase.prototype.transaction = function () {
           throw new DOMException('The database connection is closing.', 'InvalidStateError');
         };
         IDBFactory.prototype.open = function (name, version) {
           const request = window.openBeforeClosing.call(this, name, version);
           request.addEventListener('success', (event) => {
             event.stopImmediatePropagation();
             request.result.close();
             request.dispatchEvent(new Event('error'));
           }, { once: true });
           return request;
         };",
        "IDBDatabase.prototype.transaction = window.transactionBeforeClosing; IDBFactory.prototype.open = window.openBeforeClosing;",
    );
    assert!(key.current().await.is_err(), "the key may still be there: never taken for one that is gone");
    drop(closed);
    let read = key.current().await.unwrap().expect("read once IndexedDB answers again");
    assert_eq!(read.public_key().await.unwrap(), made.public_key().await.unwrap());
    key.forget().await;
}

#[wasm_bindgen_test]
async fn a_read_that_never_settles_fails_at_its_deadline_instead_of_holding_the_tab() {
    let key = WebCryptoKey::default();
    let made = key.make().await.unwrap();
    key.keep(&made).await.unwrap();
    // A read the database never answers: the key read holds a request's, a refresh's or a sign-out's turn, so it
    // must end.
    let hanging = patch(
        "window.getBeforeHang = IDBObjectStore.prototype.get;
         IDBObjectStore.prototype.get = function (key) {
           const request = window.getBeforeHang.call(this, key);
           for (const type of ['success', 'error']) {
             request.addEventListener(type, (event) => event.stopImmediatePropagation());
           }
           return request;
         };",
        "IDBObjectStore.prototype.get = window.getBeforeHang;",
    );
    assert!(key.current().await.is_err(), "a failure at the deadline");
    drop(hanging);
    assert!(key.current().await.unwrap().is_some());
    key.forget().await;
}

#[wasm_bindgen_test]
async fn a_key_write_or_an_opening_that_never_settles_is_given_up_on_and_this_tab_still_signs() {
    let key = WebCryptoKey::default();
    key.forget().await;
    // A write whose commit the database never reports: the sign-in holds its turn and the lock of every tab while
    // it waits. The write itself lands.
    let hanging = patch(
        "window.transactionBeforeHang = IDBDatabase.prototype.transaction;
         IDBDatabase.prototype.transaction = function (stores, mode) {
           const transaction = window.transactionBeforeHang.call(this, stores, mode);
           if (mode === 'readwrite') {
             for (const type of ['complete', 'abort', 'error']) {
               transaction.addEventListener(type, (event) => event.stopImmediatePropagation());
             }
           }
           return transaction;
         };",
        "IDBDatabase.prototype.transaction = window.transactionBeforeHang;",
    );
    let made = key.make().await.unwrap();
    key.keep(&made).await.unwrap();
    drop(hanging);
    let public = made.public_key().await.unwrap();
    let current = key.current().await.unwrap().expect("this tab's key");
    assert_eq!(current.public_key().await.unwrap(), public);
    let stored = WebCryptoKey::default().current().await.unwrap();
    let stored = stored.expect("a write given up on is not undone: it landed, and every tab reads it");
    assert_eq!(stored.public_key().await.unwrap(), public);

    // An opening the database never answers, on a page that has no connection yet.
    let opening = patch(
        "window.openBeforeHang = IDBFactory.prototype.open;
         IDBFactory.prototype.open = function (name, version) {
           const request = window.openBeforeHang.call(this, name, version);
           for (const type of ['success', 'error']) {
             request.addEventListener(type, (event) => event.stopImmediatePropagation());
           }
           return request;
         };",
        "IDBFactory.prototype.open = window.openBeforeHang;",
    );
    let another_tab = WebCryptoKey::default();
    assert!(another_tab.current().await.is_err(), "given up on: a failure, not a key that is gone");
    drop(opening);
    assert!(another_tab.current().await.unwrap().is_some(), "opened again once IndexedDB answers");
    key.forget().await;
}

#[wasm_bindgen_test]
async fn a_write_its_transaction_undoes_after_the_request_succeeded_is_not_taken_for_kept() {
    let key = WebCryptoKey::default();
    let previous = key.make().await.unwrap();
    key.keep(&previous).await.unwrap();
    // Chromium reports a full quota when the transaction commits: the put's request succeeds, then the whole
    // transaction aborts and nothing is written.
    let undone = patch(
        "window.putBeforeAbort = IDBObjectStore.prototype.put;
         IDBObjectStore.prototype.put = function (value, key) {
           const request = window.putBeforeAbort.call(this, value, key);
           request.addEventListener('success', () => this.transaction.abort());
           return request;
         };",
        "IDBObjectStore.prototype.put = window.putBeforeAbort;",
    );
    let made = key.make().await.unwrap();
    key.keep(&made).await.unwrap();
    drop(undone);
    let current = key.current().await.unwrap().expect("this sign-in's key, in this tab's memory");
    assert_eq!(current.public_key().await.unwrap(), made.public_key().await.unwrap(), "not the previous session's");
    key.forget().await;
}

#[wasm_bindgen_test]
async fn a_key_read_dropped_while_it_waits_leaves_no_handler_behind() {
    let key = WebCryptoKey::default();
    let made = key.make().await.unwrap();
    key.keep(&made).await.unwrap();
    // The database answers the read a little later than usual; meanwhile the query that asked is aborted (its
    // component gone), which drops the read.
    let _uncaught = patch(
        "window.uncaughtAfterDrop = 0;
         window.countUncaughtAfterDrop = () => { window.uncaughtAfterDrop += 1; };
         window.addEventListener('error', window.countUncaughtAfterDrop);
         window.getBeforeDrop = IDBObjectStore.prototype.get;
         IDBObjectStore.prototype.get = function (key) {
           const request = window.getBeforeDrop.call(this, key);
           request.addEventListener('success', (event) => {
             if (!event.isTrusted) return;
             event.stopImmediatePropagation();
             setTimeout(() => request.dispatchEvent(new Event('success')), 50);
           });
           return request;
         };",
        "window.removeEventListener('error', window.countUncaughtAfterDrop);
         IDBObjectStore.prototype.get = window.getBeforeDrop;",
    );
    let read = Box::pin(key.current());
    let aborted = Box::pin(sleep(Duration::from_millis(10)));
    assert!(matches!(futures::future::select(read, aborted).await, futures::future::Either::Right(_)));
    sleep(Duration::from_millis(200)).await;
    let uncaught = Reflect::get(&web_sys::window().unwrap(), &"uncaughtAfterDrop".into()).unwrap();
    assert_eq!(uncaught.as_f64(), Some(0.0), "the late answer called a dropped closure");
    key.forget().await;
}
