//! Revocations made by other instances on the same PostgreSQL database, heard through `LISTEN`: each drops the
//! session from this instance's live cache at once. The listening connection (one of its own) is asked to answer
//! every two seconds, so one dropped silently (by a NAT or a proxy) is noticed within five. While the channel is down,
//! the cache falls back to re-reading every session after
//! [`RECHECK_SECONDS`](crate::auth::live_sessions::RECHECK_SECONDS), and the log says so.

use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::state::AppState;
use crate::store::REVOCATIONS_CHANNEL;

const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How often the listening connection is asked to answer: a connection a NAT or a proxy dropped without a word
/// would otherwise keep this instance believing it hears every revocation.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How long a heartbeat (or connecting and `LISTEN`) may take before the connection counts as lost.
const HEARTBEAT_WAIT: Duration = Duration::from_secs(3);

/// Listens for as long as the server lives.
pub async fn listen(app: Weak<AppState>) {
    let mut announced_loss = false;
    loop {
        let Some(pool) = app.upgrade().and_then(|app| app.store.listening().cloned()) else { return };
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            // A lost connection ends this listener, and the loop below starts another: never a silent reconnect.
            listener.eager_reconnect(false);
            listener.listen(REVOCATIONS_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match tokio::time::timeout(HEARTBEAT_WAIT, listener).await {
            Ok(Ok(mut listener)) => {
                if let Some(app) = app.upgrade() {
                    // Whatever was announced while nobody listened is lost: read every session again.
                    app.live_sessions.forget_all();
                    app.live_sessions.set_listening(true);
                }
                if announced_loss {
                    tracing::info!("revocation channel back: revocations by other instances reach this one at once");
                    announced_loss = false;
                }
                let Some(mut stopping) = app.upgrade().map(|app| app.stopping.subscribe()) else { return };
                // Resolves when the server stops, or is gone.
                let stopped = async move { drop(stopping.wait_for(|stopping| *stopping).await) };
                let mut stopped = std::pin::pin!(stopped);
                // `try_recv` answers `None` when the connection drops; anything else wrong ends this listener.
                let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
                heartbeat.tick().await;
                loop {
                    let received = tokio::select! {
                        // The server stops: the listener, and its connection, go.
                        () = &mut stopped => return,
                        // `try_recv` is cancellation-safe: a heartbeat between two notifications loses none.
                        received = listener.try_recv() => received,
                        _ = heartbeat.tick() => {
                            let answered = tokio::time::timeout(
                                HEARTBEAT_WAIT,
                                sqlx::query("SELECT 1").execute(&mut listener),
                            );
                            match answered.await {
                                Ok(Ok(_)) => {}
                                Ok(Err(error)) => {
                                    tracing::warn!(%error, "the revocation channel's connection failed");
                                    break;
                                }
                                Err(_) => {
                                    tracing::warn!("the revocation channel's connection stopped answering");
                                    break;
                                }
                            }
                            continue;
                        }
                    };
                    let (Ok(Some(notification)), Some(app)) = (received, app.upgrade()) else { break };
                    app.live_sessions.forget(notification.payload());
                }
            }
            Ok(Err(error)) => tracing::debug!(%error, "cannot listen for revocations"),
            Err(_) => tracing::debug!("cannot listen for revocations: no answer"),
        }
        let Some(app) = app.upgrade() else { return };
        app.live_sessions.set_listening(false);
        if !announced_loss {
            tracing::warn!(
                "revocation channel lost: revocations by other instances are seen within a second (the live-session \
                 re-check) until it is back"
            );
            announced_loss = true;
        }
        drop(app);
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
