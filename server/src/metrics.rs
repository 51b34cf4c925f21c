//! Outcome counters, in the Prometheus text format `GET /metrics` answers on its own listener (`--metrics`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use session_contract::ErrorCode;

use crate::auth::passwords::CheckStats;
use crate::store::PoolStats;

#[derive(Debug, Clone, Copy)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    Throttled,
    Busy,
}

#[derive(Debug, Clone, Copy)]
pub enum RefreshOutcome {
    Rotated,
    Grace,
    Expired,
    Reused,
    Throttled,
    /// A bound session's refresh without a proof of its key (a copied cookie): refused, nothing changed.
    InvalidProof,
}

#[derive(Debug, Default)]
pub struct Metrics {
    logins: [AtomicU64; 4],
    refreshes: [AtomicU64; 6],
}

const LOGIN_LABELS: [&str; 4] = ["success", ErrorCode::InvalidCredentials.as_str(), "throttled", "busy"];
const REFRESH_LABELS: [&str; 6] = ["rotated", "grace", "expired", "reused", "throttled", "invalid_proof"];

impl Metrics {
    pub fn login(&self, outcome: LoginOutcome) {
        self.logins[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refresh(&self, outcome: RefreshOutcome) {
        self.refreshes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, pool: PoolStats, checks: CheckStats) -> String {
        let mut text = String::new();
        render_family(&mut text, "session_logins_total", "Login attempts by outcome.", &LOGIN_LABELS, &self.logins);
        render_family(
            &mut text,
            "session_refreshes_total",
            "Refresh requests by outcome.",
            &REFRESH_LABELS,
            &self.refreshes,
        );
        let reused = self.refreshes[RefreshOutcome::Reused as usize].load(Ordering::Relaxed);
        let _ = writeln!(
            text,
            "# HELP session_reuse_detections_total Refresh token reuse detections (each revokes a session)."
        );
        let _ = writeln!(text, "# TYPE session_reuse_detections_total counter");
        let _ = writeln!(text, "session_reuse_detections_total {reused}");
        let _ = writeln!(text, "# HELP session_db_connections Database pool connections by state.");
        let _ = writeln!(text, "# TYPE session_db_connections gauge");
        let _ = writeln!(text, "session_db_connections{{state=\"in_use\"}} {}", pool.in_use);
        let _ = writeln!(text, "session_db_connections{{state=\"idle\"}} {}", pool.idle);
        let _ = writeln!(text, "# HELP session_db_connections_max The pool's size limit.");
        let _ = writeln!(text, "# TYPE session_db_connections_max gauge");
        let _ = writeln!(text, "session_db_connections_max {}", pool.max);
        let _ = writeln!(
            text,
            "# HELP session_db_pool_waits_total Database calls that found every pool connection in use and waited."
        );
        let _ = writeln!(text, "# TYPE session_db_pool_waits_total counter");
        let _ = writeln!(text, "session_db_pool_waits_total {}", pool.waits);
        let _ = writeln!(text, "# HELP session_password_checks_waiting Sign-ins waiting for a free password check.");
        let _ = writeln!(text, "# TYPE session_password_checks_waiting gauge");
        let _ = writeln!(text, "session_password_checks_waiting {}", checks.waiting);
        let _ = writeln!(text, "# HELP session_password_checks_asked_total Sign-ins that asked for a password check.");
        let _ = writeln!(text, "# TYPE session_password_checks_asked_total counter");
        let _ = writeln!(text, "session_password_checks_asked_total {}", checks.asked);
        let _ = writeln!(text, "# HELP session_password_checks_run_total Password verifications run.");
        let _ = writeln!(text, "# TYPE session_password_checks_run_total counter");
        let _ = writeln!(text, "session_password_checks_run_total {}", checks.ran);
        text
    }
}

fn render_family(text: &mut String, name: &str, help: &str, labels: &[&str], counters: &[AtomicU64]) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} counter");
    for (label, counter) in labels.iter().zip(counters) {
        let _ = writeln!(text, "{name}{{outcome=\"{label}\"}} {}", counter.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_outcome_as_a_labelled_counter() {
        let metrics = Metrics::default();
        metrics.refresh(RefreshOutcome::Rotated);
        metrics.refresh(RefreshOutcome::Reused);
        let text = metrics
            .render(PoolStats { in_use: 2, idle: 3, max: 8, waits: 5 }, CheckStats { waiting: 4, asked: 9, ran: 3 });
        assert!(text.contains("session_refreshes_total{outcome=\"rotated\"} 1"));
        assert!(text.contains("session_refreshes_total{outcome=\"grace\"} 0"));
        assert!(text.contains("session_reuse_detections_total 1"));
        assert!(text.contains("session_logins_total{outcome=\"success\"} 0"));
        assert!(text.contains("session_db_connections{state=\"in_use\"} 2"));
        assert!(text.contains("session_db_connections_max 8"));
        assert!(text.contains("session_db_pool_waits_total 5"));
        assert!(text.contains("session_password_checks_waiting 4"));
        assert!(text.contains("session_password_checks_asked_total 9"));
        assert!(text.contains("session_password_checks_run_total 3"));
    }
}
