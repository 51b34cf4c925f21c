//! A query cache with TanStack Query v5's observable behaviour, on Leptos signals: one entry per key shared by
//! every reader, fresh for `staleTime`, stale data shown while it refetches, refetch on mount, focus and
//! reconnect, paused offline, retries with backoff, garbage collection, and emptied on every session change.
//!
//! The rules are pure functions of [`QueryState`] (natively tested with a fake clock); this module only runs
//! them: it spawns the fetches, sleeps between retries and hears the page becoming visible or the network
//! coming back.

mod policy;
mod state;

use std::any::{Any, TypeId};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::{AbortHandle, Abortable, LocalBoxFuture};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use session_core::{Clock, SessionError};

use crate::browser::{BrowserClock, sleep};

use state::AfterAttempt;
pub use state::{FetchStatus, QueryOptions, QueryState};

/// An entry's data, whatever its type: the cache's machinery (its state, fetches, retries, notifications) is
/// compiled once, not once per data type; only a reader's typed view of it and its resource are (issue 22: 5.9 KB
/// less wasm with the app's two data types, 0.7 KB less brotli: compression had already folded most of the copy).
type Data = Rc<dyn Any>;
type Fetcher = Rc<dyn Fn() -> LocalBoxFuture<'static, Result<Data, SessionError>>>;
/// An entry's resource (an `ArcLocalResource<Result<T, SessionError>>` of its data type) and what tells it an
/// outcome.
type TypedResource = (Data, Box<dyn Fn(Result<Data, SessionError>)>);

struct Entry {
    /// The data type its readers ask for: a reader of another type under the same key gets an entry of its own.
    data_type: TypeId,
    state: ArcRwSignal<QueryState<Data>>,
    fetcher: RefCell<Fetcher>,
    options: Cell<QueryOptions>,
    /// Aborts the fetch in flight (when its last reader leaves).
    in_flight: RefCell<Option<AbortHandle>>,
    /// The entry as a resource, made when a reader first asks for it; one per key, shared by every reader.
    resource: OnceCell<TypedResource>,
    /// Loads of the resource waiting for the entry's first outcome (or its reset).
    waiting: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Entry {
    fn fetch(self: &Rc<Self>, online: Signal<bool>) {
        if let Some(id) = self.state.try_update(|state| state.start_fetch(online.get_untracked())).flatten() {
            self.run(id, online);
        }
    }

    /// Attempts under `id` until they settle, sleeping between retries; offline at a retry, it pauses.
    fn run(self: &Rc<Self>, mut id: u64, online: Signal<bool>) {
        let entry = Rc::clone(self);
        let (abort, registration) = AbortHandle::new_pair();
        if let Some(previous) = self.in_flight.replace(Some(abort)) {
            previous.abort();
        }
        let attempts = async move {
            loop {
                let fetch = (entry.fetcher.borrow())();
                let result = fetch.await;
                let next = entry.state.try_update(|state| state.finish(id, wall_clock_ms(), result));
                let Some(AfterAttempt::RetryIn(wait_ms)) = next else {
                    entry.publish();
                    return;
                };
                sleep(milliseconds(wait_ms)).await;
                match entry.state.try_update(|state| state.retry(id, online.get_untracked())).flatten() {
                    Some(same) => id = same,
                    None => return,
                }
            }
        };
        leptos::task::spawn_local(async move {
            let _ = Abortable::new(attempts, registration).await;
        });
    }

    /// The entry as a resource: see [`Query::resource`].
    fn resource<T: Clone + 'static>(self: &Rc<Self>) -> ArcLocalResource<Result<T, SessionError>> {
        let (resource, _) = self.resource.get_or_init(|| {
            let resource = resource_of::<T>(Rc::downgrade(self));
            let told = resource.clone();
            let tell = move |outcome| told.set(Some(typed(outcome)));
            (Rc::new(resource), Box::new(tell))
        });
        resource.downcast_ref().cloned().unwrap_or_else(|| resource_of(Weak::new()))
    }

    /// Tells the resource, and the loads waiting for it, what readers see now that the outcome may have changed
    /// (an attempt settled, `set_data`, a reset): the outcome, in place; after a reset, that the session changed
    /// (never the last session's data, and never `None`, which would leave `.await` nothing to return).
    fn publish(&self) {
        for load in self.waiting.take() {
            // A load whose resource is gone listens no more: nothing to tell.
            let _ = load.send(());
        }
        if let Some((_, tell)) = self.resource.get() {
            let outcome = self.state.with_untracked(QueryState::outcome);
            tell(outcome.unwrap_or(Err(SessionError::SessionChanged)));
        }
    }

    fn observe(&self) {
        self.state.update(QueryState::observe);
    }

    /// The last reader gone, a fetch still running is abandoned: aborted, its answer dropped.
    fn unobserve(&self) {
        let cancelled = self
            .state
            .try_update(|state| {
                state.unobserve(wall_clock_ms());
                let abandoned = !state.is_active() && state.fetch_status != FetchStatus::Idle;
                if abandoned {
                    state.cancel();
                }
                abandoned
            })
            .unwrap_or(false);
        if cancelled && let Some(in_flight) = self.in_flight.take() {
            in_flight.abort();
        }
    }

    fn refetch_if_stale(self: &Rc<Self>, online: Signal<bool>) {
        let options = self.options.get();
        let wanted =
            self.state.with_untracked(|state| state.is_active() && state.wants_fetch(wall_clock_ms(), options));
        if wanted {
            self.fetch(online);
        }
    }

    fn resume(self: &Rc<Self>, online: Signal<bool>) {
        if let Some(id) = self.state.try_update(|state| state.resume(online.get_untracked())).flatten() {
            self.run(id, online);
        }
    }

    fn reset(&self) {
        if let Some(in_flight) = self.in_flight.take() {
            in_flight.abort();
        }
        self.state.update(QueryState::reset);
        self.publish();
    }

    fn invalidate(self: &Rc<Self>, online: Signal<bool>) {
        self.state.update(QueryState::invalidate);
        self.refetch_if_stale(online);
    }

    fn is_garbage(&self, now_ms: f64) -> bool {
        self.state.with_untracked(|state| state.is_garbage(now_ms, self.options.get()))
    }
}

/// The data as `T`, which it is whenever `T` is its entry's data type.
fn of_type<T: Clone + 'static>(data: &Data) -> Option<T> {
    data.downcast_ref::<T>().cloned()
}

/// An outcome as its data type. An entry holds one type (`Entry::data_type`), so the data always is a `T`.
fn typed<T: Clone + 'static>(outcome: Result<Data, SessionError>) -> Result<T, SessionError> {
    outcome.and_then(|data| of_type(&data).ok_or(SessionError::SessionChanged))
}

/// The app's one cache, in context ([`use_query_client`]); copyable.
#[derive(Clone, Copy)]
pub struct QueryClient {
    entries: StoredValue<HashMap<String, Rc<Entry>>, LocalStorage>,
    online: Signal<bool>,
}

impl QueryClient {
    /// A cache whose fetches pause while `online` is false, and which refetches stale active entries when the
    /// page becomes visible or the network comes back.
    pub fn new(online: Signal<bool>) -> Self {
        let client = Self { entries: StoredValue::new_local(HashMap::new()), online };
        let visible = window_event_listener_untyped("visibilitychange", move |_| {
            if document().visibility_state() == web_sys::VisibilityState::Visible {
                client.for_each(|entry| entry.refetch_if_stale(online));
            }
        });
        Effect::new(move |was_online: Option<bool>| {
            let is_online = online.get();
            if is_online && was_online == Some(false) {
                client.for_each(|entry| {
                    entry.resume(online);
                    entry.refetch_if_stale(online);
                });
            }
            is_online
        });
        on_cleanup(move || visible.remove());
        client
    }

    fn for_each(self, action: impl Fn(Rc<Entry>)) {
        let entries: Vec<_> =
            self.entries.try_with_value(|entries| entries.values().cloned().collect()).unwrap_or_default();
        entries.into_iter().for_each(action);
    }

    /// The entry for `key`, made on first use; the latest reader's fetcher and options are the ones used.
    fn entry(self, key: &str, data_type: TypeId, fetcher: Fetcher, options: QueryOptions) -> Rc<Entry> {
        if let Some(entry) = self.get(key, data_type) {
            entry.fetcher.replace(fetcher);
            entry.options.set(options);
            return entry;
        }
        let entry = Rc::new(Entry {
            data_type,
            state: ArcRwSignal::new(QueryState::default()),
            fetcher: RefCell::new(fetcher),
            options: Cell::new(options),
            in_flight: RefCell::new(None),
            resource: OnceCell::new(),
            waiting: RefCell::new(Vec::new()),
        });
        self.entries.update_value(|entries| {
            entries.insert(key.to_owned(), Rc::clone(&entry));
        });
        entry
    }

    /// The entry of `key` if its data is of `data_type`.
    fn get(self, key: &str, data_type: TypeId) -> Option<Rc<Entry>> {
        let entry = self.entries.try_with_value(|entries| entries.get(key).cloned()).flatten();
        entry.filter(|entry| entry.data_type == data_type)
    }

    /// Changes the data of `key` after a mutation (TanStack's `setQueryData` with an updater), fresh from now; nothing when the entry holds no data.
    pub fn set_data<T: Clone + 'static>(self, key: &str, change: impl FnOnce(&mut T)) {
        if let Some(entry) = self.get(key, TypeId::of::<T>()) {
            entry.state.update(|state| {
                if let Some(mut data) = state.data.as_ref().and_then(of_type::<T>) {
                    change(&mut data);
                    state.set_data(wall_clock_ms(), Rc::new(data));
                }
            });
            entry.publish();
        }
    }

    /// Marks `key` stale; if someone reads it, it refetches now.
    pub fn invalidate(self, key: &str) {
        let entry = self.entries.try_with_value(|entries| entries.get(key).cloned()).flatten();
        if let Some(entry) = entry {
            entry.invalidate(self.online);
        }
    }

    /// Empties every entry (a session change): nobody sees the last session's data, answers still in flight for
    /// it are dropped, and every resource reads `Err(SessionError::SessionChanged)` until its next outcome.
    /// Entries nobody reads go altogether.
    pub fn clear(self) {
        self.for_each(|entry| entry.reset());
        self.collect_garbage_now(f64::INFINITY);
    }

    /// Refetches every entry still read that is stale (after [`QueryClient::clear`], all of them): what a page
    /// still shows loads for the session there is now (TanStack's `resetQueries`).
    pub fn refetch_active(self) {
        self.for_each(|entry| entry.refetch_if_stale(self.online));
    }

    fn collect_garbage_now(self, now_ms: f64) {
        self.entries.try_update_value(|entries| entries.retain(|_, entry| !entry.is_garbage(now_ms)));
    }
}

/// The cache in context.
///
/// # Panics
/// Outside [`provide_session`](crate::provide_session).
pub fn use_query_client() -> QueryClient {
    expect_context()
}

/// A reader's handle on one entry; copyable into views.
pub struct Query<T: 'static> {
    entry: StoredValue<Rc<Entry>, LocalStorage>,
    online: Signal<bool>,
    data_type: PhantomData<fn() -> T>,
}

impl<T: 'static> Clone for Query<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: 'static> Copy for Query<T> {}

impl<T: Clone + 'static> Query<T> {
    /// The entry as a Leptos resource, for `<Suspense>`, `<Transition>` and `.await`: one per key, shared by
    /// every reader. It loads until the entry's first outcome, then holds `Ok(data)` (or `Err` when the fetch
    /// failed and there is no data), updated in place by every later fetch, refetch and
    /// [`QueryClient::set_data`] without loading again. A change of session makes it
    /// `Err(SessionError::SessionChanged)` until the entry's next outcome. Its own `refetch` only reads the entry
    /// again; [`Query::refetch`] asks the server.
    pub fn resource(&self) -> ArcLocalResource<Result<T, SessionError>> {
        let gone = || resource_of(Weak::new());
        self.entry.try_get_value().map_or_else(gone, |entry| entry.resource())
    }

    /// Reads the entry's state (tracked: a view that calls it follows the entry).
    pub fn with<R>(&self, read: impl FnOnce(&QueryState<T>) -> R) -> Option<R> {
        self.with_erased(|state| read(&state.map_data(of_type)))
    }

    fn with_erased<R>(&self, read: impl FnOnce(&QueryState<Data>) -> R) -> Option<R> {
        self.entry.try_with_value(|entry| entry.state.with(read))
    }

    /// The data, if any has arrived (tracked).
    pub fn data(&self) -> Option<T> {
        self.with_erased(|state| state.data.as_ref().and_then(of_type)).flatten()
    }

    /// The last fetch's final error, after its retries (tracked); data fetched before it is still there.
    pub fn error(&self) -> Option<SessionError> {
        self.with_erased(|state| state.error.clone()).flatten()
    }

    /// No data yet (tracked).
    pub fn is_pending(&self) -> bool {
        self.with_erased(QueryState::is_pending).unwrap_or(true)
    }

    /// A fetch runs (tracked).
    pub fn is_fetching(&self) -> bool {
        self.with_erased(QueryState::is_fetching).unwrap_or(false)
    }

    /// Fetches now, fresh or not (a fetch already running is shared).
    pub fn refetch(&self) {
        if let Some(entry) = self.entry.try_get_value() {
            entry.state.update(QueryState::invalidate);
            entry.fetch(self.online);
        }
    }
}

/// Reads `key` for as long as the calling component lives: shares the entry with every other reader, fetches
/// with `fetch` when it is missing or stale, and lets the entry go `gc_time` after the last reader left.
pub fn use_query<T, F>(key: &str, fetch: impl Fn() -> F + 'static, options: QueryOptions) -> Query<T>
where
    T: Clone + 'static,
    F: Future<Output = Result<T, SessionError>> + 'static,
{
    let client = use_query_client();
    let fetcher: Fetcher = Rc::new(move || {
        let fetch = fetch();
        Box::pin(async move { fetch.await.map(|data| Rc::new(data) as Data) })
    });
    let entry = client.entry(key, TypeId::of::<T>(), fetcher, options);
    entry.observe();
    if entry.state.with_untracked(|state| state.wants_fetch(wall_clock_ms(), options)) {
        entry.fetch(client.online);
    }
    // Cleanups must be Send; this one runs on the one thread there is.
    let leaving = SendWrapper::new(Rc::clone(&entry));
    on_cleanup(move || {
        leaving.unobserve();
        set_timeout(move || client.collect_garbage_now(wall_clock_ms()), options.gc_time);
    });
    Query { entry: StoredValue::new_local(entry), online: client.online, data_type: PhantomData }
}

/// A resource of the entry's outcomes. One function makes every resource of a data type, an entry's and a gone
/// entry's (which is `SessionChanged` at once), so Leptos' resource machinery is compiled once per data type.
fn resource_of<T: Clone + 'static>(entry: Weak<Entry>) -> ArcLocalResource<Result<T, SessionError>> {
    ArcLocalResource::new(move || next_outcome(entry.clone()).map(typed))
}

/// The entry's outcome once it has one; `SessionChanged` when it was reset (or dropped) first.
fn next_outcome(entry: Weak<Entry>) -> LocalBoxFuture<'static, Result<Data, SessionError>> {
    Box::pin(wait_for_outcome(entry))
}

async fn wait_for_outcome(entry: Weak<Entry>) -> Result<Data, SessionError> {
    let outcome = || entry.upgrade().and_then(|current| current.state.with_untracked(QueryState::outcome));
    if let Some(outcome) = outcome() {
        return outcome;
    }
    if let Some(current) = entry.upgrade() {
        let (ready, settled) = oneshot::channel();
        current.waiting.borrow_mut().push(ready);
        drop(current);
        // Woken by an outcome or a reset; dropped with the entry.
        let _ = settled.await;
    }
    outcome().unwrap_or(Err(SessionError::SessionChanged))
}

fn milliseconds(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default()
}

/// The wall clock that freshness and garbage collection follow (see [`QueryState::is_stale`]): the session
/// client's, which expiry times are written in; retries wait on the browser's timers.
fn wall_clock_ms() -> f64 {
    BrowserClock.now_ms()
}
