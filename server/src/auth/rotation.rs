//! The refresh-token rotation policy, as one pure function: what presenting a token leads to, given its row,
//! the time and the settings. The store only reads the row and carries out the decision.

use crate::store::{PresentedToken, RevokeReason};

/// The settings rotation depends on, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct RotationRules {
    pub idle_timeout: i64,
    pub grace: i64,
    /// The presenter proved the key the session is bound to (DPoP), which a thief of the cookie alone cannot: a
    /// rotated parent gets its unused child again for [`PROVEN_GRACE`] at least (a tab whose renewal's answers
    /// came too late renews at its next 30 s check), unless the grace is off.
    pub proven_by_the_sessions_key: bool,
    /// Rotations one session may make in [`ROTATION_WINDOW`] seconds (its sign-in counts as one).
    pub rotations_per_window: u32,
    /// Rotations one session may make in its whole life ([`max_rotations`]).
    pub max_rotations: i64,
}

/// How many rotations a session may make in its life: twice what it needs at one rotation per access token for
/// its whole lifetime, and ten more (a short session's retries). A session past it is looping refreshes (or a
/// thief is), and is revoked, which also keeps its chain of stored tokens bounded without pruning it (pruning
/// would let a thief erase the token whose reuse would reveal the theft).
pub fn max_rotations(session_ttl: i64, access_ttl: i64) -> i64 {
    2 * (session_ttl / access_ttl.max(1) + 1) + 10
}

/// Seconds a DPoP-bound session's rotated parent, presented with a proof of its key, gets its unused child
/// again: the app's idle tab renews every 30 s, so a renewal whose answers came too late is retried within it.
/// Bounded, as the Bearer window is, so that two holders of the cookie and the key who present it further apart
/// are found out (a copied browser profile holds both).
pub const PROVEN_GRACE: i64 = 60;

/// The window the rotation limit counts in, seconds.
pub const ROTATION_WINDOW: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The newest token of a live session: it is exchanged for a child.
    Rotate,
    /// Rotated moments ago and its child is still unused: answer with that same child (a lost answer's retry).
    GraceSameChild,
    /// A rotated token presented again outside the grace rule: reuse, and the whole session is revoked.
    Reused,
    /// A token of a session revoked for reuse before: refused as reuse, with nothing left to revoke.
    RevokedForReuse,
    /// The session has ended: absolute lifetime, or revoked for any other reason.
    Expired,
    /// The session went unused (not refreshed) for longer than the idle timeout.
    Idle,
    /// The newest token, but its session rotated too often lately: the client waits this many seconds (and
    /// keeps its token, still the newest).
    TooFrequent { retry_after: u64 },
    /// The newest token, but its session has made every rotation its life allows: it is revoked.
    Exhausted,
}

pub fn decide(token: &PresentedToken, now: i64, rules: RotationRules) -> Decision {
    match token.revoke_reason {
        Some(RevokeReason::Reuse) => return Decision::RevokedForReuse,
        Some(_) => return Decision::Expired,
        None => {}
    }
    if now >= token.expires_at {
        return Decision::Expired;
    }
    if now - token.last_used_at > rules.idle_timeout {
        return Decision::Idle;
    }
    let Some(used_at) = token.used_at else {
        if token.rotations >= rules.max_rotations {
            return Decision::Exhausted;
        }
        if token.recent_tokens >= i64::from(rules.rotations_per_window) {
            let window_ends = token.oldest_recent_at.unwrap_or(now) + ROTATION_WINDOW;
            return Decision::TooFrequent { retry_after: u64::try_from(window_ends - now).unwrap_or(1).max(1) };
        }
        return Decision::Rotate;
    };
    let child_unused = token.child_is_newest == Some(true);
    let grace = if rules.proven_by_the_sessions_key { rules.grace.max(PROVEN_GRACE) } else { rules.grace };
    if rules.grace > 0 && now - used_at <= grace && child_unused && token.sealed_child.is_some() {
        Decision::GraceSameChild
    } else {
        Decision::Reused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: RotationRules = RotationRules {
        idle_timeout: 100,
        grace: 10,
        proven_by_the_sessions_key: false,
        rotations_per_window: 3,
        max_rotations: 20,
    };
    const PROVEN: RotationRules = RotationRules { proven_by_the_sessions_key: true, ..RULES };
    const NOW: i64 = 1_000;

    fn newest() -> PresentedToken {
        PresentedToken {
            session_id: "s".to_owned(),
            user_id: 1,
            parent_hash: None,
            used_at: None,
            child_hash: None,
            sealed_child: None,
            child_is_newest: None,
            expires_at: NOW + 500,
            last_used_at: NOW - 50,
            revoke_reason: None,
            recent_tokens: 1,
            oldest_recent_at: Some(NOW - 50),
            rotations: 5,
            jkt: None,
        }
    }

    fn rotated(at: i64, child_unused: bool, sealed: bool) -> PresentedToken {
        PresentedToken {
            used_at: Some(at),
            child_hash: Some(vec![1]),
            child_is_newest: Some(child_unused),
            sealed_child: sealed.then(|| vec![2]),
            ..newest()
        }
    }

    #[test]
    fn each_row_leads_to_one_decision() {
        let cases: Vec<(&str, PresentedToken, RotationRules, Decision)> = vec![
            ("the newest token", newest(), RULES, Decision::Rotate),
            ("at the absolute end", PresentedToken { expires_at: NOW, ..newest() }, RULES, Decision::Expired),
            ("idle just too long", PresentedToken { last_used_at: NOW - 101, ..newest() }, RULES, Decision::Idle),
            (
                "idle exactly the timeout",
                PresentedToken { last_used_at: NOW - 100, ..newest() },
                RULES,
                Decision::Rotate,
            ),
            (
                "revoked by logout",
                PresentedToken { revoke_reason: Some(RevokeReason::Logout), ..newest() },
                RULES,
                Decision::Expired,
            ),
            (
                "revoked for reuse",
                PresentedToken { revoke_reason: Some(RevokeReason::Reuse), ..newest() },
                RULES,
                Decision::RevokedForReuse,
            ),
            (
                "revoked for reuse, past its end",
                PresentedToken { revoke_reason: Some(RevokeReason::Reuse), expires_at: 0, ..newest() },
                RULES,
                Decision::RevokedForReuse,
            ),
            ("retried inside the grace", rotated(NOW - 10, true, true), RULES, Decision::GraceSameChild),
            ("retried after the grace", rotated(NOW - 11, true, true), RULES, Decision::Reused),
            (
                "retried 60 s late with the session key's proof",
                rotated(NOW - 60, true, true),
                PROVEN,
                Decision::GraceSameChild,
            ),
            ("retried 61 s late with the session key's proof", rotated(NOW - 61, true, true), PROVEN, Decision::Reused),
            ("the child used, with the session key's proof", rotated(NOW - 1, false, true), PROVEN, Decision::Reused),
            (
                "retried late with the session key's proof, grace off",
                rotated(NOW - 99, true, true),
                RotationRules { grace: 0, ..PROVEN },
                Decision::Reused,
            ),
            ("the child was already rotated", rotated(NOW - 1, false, true), RULES, Decision::Reused),
            ("no seal kept (grace off then)", rotated(NOW - 1, true, false), RULES, Decision::Reused),
            ("grace off, same second", rotated(NOW, true, true), RotationRules { grace: 0, ..RULES }, Decision::Reused),
            (
                "grace off, a second later",
                rotated(NOW - 1, true, true),
                RotationRules { grace: 0, ..RULES },
                Decision::Reused,
            ),
            (
                "the newest token, the session's third in a minute",
                PresentedToken { recent_tokens: 2, oldest_recent_at: Some(NOW - 20), ..newest() },
                RULES,
                Decision::Rotate,
            ),
            (
                "the newest token, a fourth in a minute",
                PresentedToken { recent_tokens: 3, oldest_recent_at: Some(NOW - 20), ..newest() },
                RULES,
                Decision::TooFrequent { retry_after: 40 },
            ),
            (
                "too frequent, the window ending now",
                PresentedToken { recent_tokens: 5, oldest_recent_at: Some(NOW - 60), ..newest() },
                RULES,
                Decision::TooFrequent { retry_after: 1 },
            ),
            (
                "the newest token, the life's last rotation",
                PresentedToken { rotations: 19, ..newest() },
                RULES,
                Decision::Rotate,
            ),
            (
                "the newest token, past the life's rotations",
                PresentedToken { rotations: 20, ..newest() },
                RULES,
                Decision::Exhausted,
            ),
            (
                "a grace retry after the last rotation",
                PresentedToken { rotations: 20, ..rotated(NOW - 1, true, true) },
                RULES,
                Decision::GraceSameChild,
            ),
            (
                "a grace retry is no new rotation",
                PresentedToken { recent_tokens: 9, ..rotated(NOW - 1, true, true) },
                RULES,
                Decision::GraceSameChild,
            ),
            (
                "reuse is detected however often the session rotated",
                PresentedToken { recent_tokens: 9, ..rotated(NOW - 30, false, true) },
                RULES,
                Decision::Reused,
            ),
            (
                "a rotated token of an idle session",
                PresentedToken { last_used_at: NOW - 200, ..rotated(NOW - 1, true, true) },
                RULES,
                Decision::Idle,
            ),
        ];
        for (case, token, rules, expected) in cases {
            assert_eq!(decide(&token, NOW, rules), expected, "{case}");
        }
    }

    #[test]
    fn a_sessions_life_allows_twice_the_rotations_its_tokens_need() {
        // 7 days of 15-minute tokens: 672 rotations needed.
        assert_eq!(max_rotations(7 * 24 * 3600, 900), 1356);
        assert_eq!(max_rotations(600, 60), 32);
        assert_eq!(max_rotations(60, 900), 12, "a session shorter than one token");
        assert_eq!(max_rotations(60, 0), 132, "never a division by zero");
    }
}
