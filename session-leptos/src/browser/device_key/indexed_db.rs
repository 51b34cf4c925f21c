//! The key pair's place in IndexedDB: one object store, one record. IndexedDB answers through events; each
//! request (and each write's transaction) is awaited as a promise its handlers settle, with a deadline, and the
//! handlers are dropped once it settled.

use std::cell::RefCell;

use js_sys::{Function, Promise};
use session_core::KeyUnavailable;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKeyPair, IdbDatabase, IdbObjectStore, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

const DATABASE: &str = "session-device-key";
const VERSION: u32 = 1;
const STORE: &str = "keys";
/// The one record's key.
const RECORD: &str = "device";
/// How long a request may stay pending before this page goes on without it: each holds a request's, a
/// refresh's, a sign-in's or a sign-out's turn, and the lock every tab shares. A request given up on may still
/// be done: a late write is not taken for a refused one (see [`Failed::Late`]), and an opening given up on keeps
/// its upgrade handler, so that a late upgrade still creates the store.
const DEADLINE_MS: i32 = 3_000;
/// What the deadline rejects with, to tell it from the request's own failure.
const LATE: &str = "late";

/// How a request ended without its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failed {
    /// It failed: nothing was done.
    Refused,
    /// It was still pending at the deadline: it may yet be done.
    Late,
}

/// The database, opened on first use and kept open.
#[derive(Default)]
pub(crate) struct KeyStore {
    database: RefCell<Option<IdbDatabase>>,
}

impl KeyStore {
    /// The stored key pair, or none where IndexedDB answers that it holds none. A read that fails is tried once
    /// more on a new connection: WebKit loses a page's connection to its database process, after which every
    /// request on it fails while the pair is still stored. Failing again, given up on at its deadline (asking
    /// again would wait as long, holding the turn), or where IndexedDB cannot be opened at all (another tab may
    /// hold the key in its memory), it is [`KeyUnavailable`], never taken for a pair that is gone.
    pub(crate) async fn get(&self) -> Result<Option<CryptoKeyPair>, KeyUnavailable> {
        let failed = match self.read().await {
            Ok(found) => return Ok(found),
            Err(failed) => failed,
        };
        // Either way the connection is not trusted again (closing lets what it still runs finish).
        if let Some(lost) = self.database.take() {
            lost.close();
        }
        if failed == Failed::Late {
            return Err(KeyUnavailable);
        }
        self.read().await.map_err(|_| KeyUnavailable)
    }

    async fn read(&self) -> Result<Option<CryptoKeyPair>, Failed> {
        let store = self.store(IdbTransactionMode::Readonly).await?;
        let request = store.get(&RECORD.into()).map_err(|_| Failed::Refused)?;
        let found = settled(&request).await?;
        Ok((!found.is_undefined()).then(|| found.unchecked_into()))
    }

    /// Stores `pair` in place of the one there was: kept once its transaction committed.
    pub(super) async fn put(&self, pair: &CryptoKeyPair) -> Result<(), Failed> {
        // No store, no write sent, whether the opening failed or was given up on: nothing can land later.
        let store = self.store(IdbTransactionMode::Readwrite).await.map_err(|_| Failed::Refused)?;
        store.put_with_key(pair, &RECORD.into()).map_err(|_| Failed::Refused)?;
        committed(&store).await
    }

    /// Deletes the key pair (nothing to do where IndexedDB is unavailable; whether it committed changes nothing
    /// for the caller).
    pub(super) async fn delete(&self) {
        if let Ok(store) = self.store(IdbTransactionMode::Readwrite).await
            && store.delete(&RECORD.into()).is_ok()
        {
            let _ = committed(&store).await;
        }
    }

    /// A transaction's store, on the connection kept; one the browser closed (site data cleared, a newer
    /// version elsewhere) is opened again once.
    async fn store(&self, mode: IdbTransactionMode) -> Result<IdbObjectStore, Failed> {
        let cached = self.database.borrow().clone();
        if let Some(store) = cached.and_then(|database| in_transaction(&database, mode)) {
            return Ok(store);
        }
        let opened = open().await?;
        self.database.replace(Some(opened.clone()));
        in_transaction(&opened, mode).ok_or(Failed::Refused)
    }
}

fn in_transaction(database: &IdbDatabase, mode: IdbTransactionMode) -> Option<IdbObjectStore> {
    database.transaction_with_str_and_mode(STORE, mode).ok()?.object_store(STORE).ok()
}

/// Opens the database, creating its store the first time.
async fn open() -> Result<IdbDatabase, Failed> {
    let factory = web_sys::window().and_then(|window| window.indexed_db().ok().flatten()).ok_or(Failed::Refused)?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, VERSION).map_err(|_| Failed::Refused)?;
    let upgrading = request.clone();
    let upgrade = Closure::<dyn FnMut()>::new(move || {
        if let Ok(database) = upgrading.result().map(JsCast::unchecked_into::<IdbDatabase>) {
            drop(database.create_object_store(STORE));
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let opened = settled(&request).await;
    if opened == Err(Failed::Late) {
        // Its upgrade may still come: the handler stays for it, for as long as the page lives.
        upgrade.forget();
    } else {
        request.set_onupgradeneeded(None);
    }
    Ok(opened?.unchecked_into())
}

/// The request's result once it succeeded; how it failed otherwise.
async fn settled(request: &IdbRequest) -> Result<JsValue, Failed> {
    fired(&|succeeded, failed| {
        request.set_onsuccess(succeeded);
        request.set_onerror(failed);
    })
    .await?;
    request.result().map_err(|_| Failed::Refused)
}

/// Whether the transaction of `store` committed: a write is kept only then (Chromium reports a full quota when
/// the transaction commits, after the request's own success).
async fn committed(store: &IdbObjectStore) -> Result<(), Failed> {
    let transaction = store.transaction();
    fired(&|completed, aborted| {
        transaction.set_oncomplete(completed);
        transaction.set_onabort(aborted);
    })
    .await
}

/// Waits for one of the two handlers `install` sets (`None`, `None` takes them off again) to be called: the
/// first is success, the second failure; or for the deadline. The handlers are taken off and dropped once it
/// settled, or once this future is dropped before that (an aborted query).
async fn fired(install: &dyn Fn(Option<&Function>, Option<&Function>)) -> Result<(), Failed> {
    let mut installed = None;
    let promise = Promise::new(&mut |resolve, reject| {
        if let Some(window) = web_sys::window() {
            let late = JsValue::from_str(LATE);
            drop(window.set_timeout_with_callback_and_timeout_and_arguments_1(&reject, DEADLINE_MS, &late));
        }
        let succeeded = Closure::once(move || drop(resolve.call0(&JsValue::UNDEFINED)));
        let failed = Closure::once(move || drop(reject.call0(&JsValue::UNDEFINED)));
        install(Some(succeeded.as_ref().unchecked_ref()), Some(failed.as_ref().unchecked_ref()));
        installed = Some(Installed { install, _handlers: [succeeded, failed] });
    });
    let outcome = JsFuture::from(promise).await;
    drop(installed);
    outcome
        .map(drop)
        .map_err(|why| if why.as_string().as_deref() == Some(LATE) { Failed::Late } else { Failed::Refused })
}

/// Two handlers `install` set, taken off before they are dropped, so that no late event calls a dropped closure.
struct Installed<'a> {
    install: &'a dyn Fn(Option<&Function>, Option<&Function>),
    _handlers: [Closure<dyn FnMut()>; 2],
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        (self.install)(None, None);
    }
}
