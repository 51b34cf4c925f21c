//! `navigator.locks.request`, which web-sys exposes only behind its unstable-API flag.

use std::time::Duration;

use js_sys::{Function, Object, Promise, Reflect};
use leptos::prelude::set_timeout;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal};

/// A Web Lock, held until dropped. Made before the request is sent, so that dropping the request at any point
/// (while it waits, or between the grant and its first poll) releases the lock, now or as soon as it is granted.
pub struct HeldLock {
    release: Function,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}

/// `navigator.locks.request(name, {signal}, callback)`: the lock is held while the callback's promise is
/// pending, so the callback returns one that [`HeldLock`] resolves when dropped. `None` without the API or when
/// the wait outlasts `timeout_ms`.
pub async fn request(name: &str, timeout_ms: u32) -> Option<HeldLock> {
    let options = Object::new();
    let signal = timeout_signal(timeout_ms)?;
    Reflect::set(&options, &"signal".into(), &signal).ok()?;
    request_with(name, &options).await
}

/// A signal that aborts in `timeout_ms`: `AbortSignal.timeout` where the browser has it, else a controller a
/// timer aborts (Safari has Web Locks from 15.4, `AbortSignal.timeout` only from 16). Looked up and called
/// through `Reflect`, which catches: web-sys' binding would throw through the wasm where it is missing, leaving
/// the tab's turn taken for good.
fn timeout_signal(timeout_ms: u32) -> Option<AbortSignal> {
    let class = Reflect::get(&js_sys::global(), &"AbortSignal".into()).ok()?;
    let timeout = Reflect::get(&class, &"timeout".into()).ok().and_then(|timeout| timeout.dyn_into::<Function>().ok());
    if let Some(timeout) = timeout {
        return timeout.call1(&class, &timeout_ms.into()).ok()?.dyn_into().ok();
    }
    let controller = AbortController::new().ok()?;
    let signal = controller.signal();
    set_timeout(move || controller.abort(), Duration::from_millis(timeout_ms.into()));
    Some(signal)
}

/// The lock if no other tab holds it or waits for it (`{ifAvailable: true}`: the callback gets `null`
/// otherwise), without waiting.
pub async fn request_if_available(name: &str) -> Option<HeldLock> {
    let options = Object::new();
    Reflect::set(&options, &"ifAvailable".into(), &true.into()).ok()?;
    request_with(name, &options).await
}

async fn request_with(name: &str, options: &Object) -> Option<HeldLock> {
    let navigator = web_sys::window()?.navigator();
    let locks = Reflect::get(&navigator, &"locks".into()).ok().filter(JsValue::is_object)?;
    let request: Function = Reflect::get(&locks, &"request".into()).ok()?.dyn_into().ok()?;

    let mut release = None;
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    let lock = HeldLock { release: release? };
    let (granted, on_grant) = futures::channel::oneshot::channel::<()>();
    // Called once by the browser, whenever that is, and freed then: never a dropped closure.
    let on_granted = Closure::once_into_js(move |lock: JsValue| -> Promise {
        if lock.is_null() {
            // Not available: the callback's promise settles at once, and the request's with it.
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        let _ = granted.send(());
        held
    });
    let outcome: Promise = request.call3(&locks, &name.into(), options, &on_granted).ok()?.dyn_into().ok()?;
    // The request's own promise settles only when the lock is released, or rejects if the wait times out.
    match futures::future::select(on_grant, JsFuture::from(outcome)).await {
        futures::future::Either::Left((Ok(()), _)) => Some(lock),
        _ => None,
    }
}
