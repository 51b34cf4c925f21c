//! The world the client's tests run in, modelled as a browser sees it: a server that acts on a request when it
//! arrives, a wire that can hold, lose or reorder answers, and a cookie jar that every answer's `Set-Cookie`
//! updates when the answer arrives, whoever still waits for it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use session_contract::paths::{LOGIN as LOGIN_PATH, LOGOUT as LOGOUT_PATH, REFRESH as REFRESH_PATH};

use crate::dpop::tests::{known_hash, parts_of};
use crate::{AccessToken, Clock, RequestRecipe, Response, TokenStore, Transport, TransportError};

/// Gives other futures a turn, the way a real network round trip would.
pub(super) struct YieldOnce(pub(super) bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Gives the client turns until `condition` holds (at most a thousand).
pub(super) async fn until(condition: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if condition() {
            return;
        }
        YieldOnce(false).await;
    }
    panic!("the condition never held");
}

/// Gives the other futures `turns` turns.
pub(super) async fn turns(turns: usize) {
    for _ in 0..turns {
        YieldOnce(false).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum RefreshAnswer {
    /// As the real server answers: rotate a live cookie, the same child again inside the grace window, `403
    /// session_expired` for a missing, unknown or revoked one.
    Rotate,
    /// The server rotates, but the answer never arrives (the fetch times out, so its `Set-Cookie` is not applied);
    /// presented again at once, the old cookie gets the same child, as the server's grace window promises.
    RotateAndLoseTheAnswer,
    Forbidden,
    /// The refresh token was already rotated and presented again by someone else: the session is revoked.
    Reused,
    /// A `403` that is not the contract's refusal: a proxy's HTML page.
    ForbiddenByAProxy,
    /// `403 csrf`: the server refused the request itself, not the session.
    ForbiddenAsCsrf,
    /// `429 too_many_attempts` with `Retry-After: 5`.
    TooManyAttempts,
    Unreachable,
    TimedOut,
    ServerError,
}

/// One sign-in's chain of refresh cookies on the server.
struct Family {
    current: String,
    /// The cookie rotated last, with the cookie and access token it got: handed out again in the grace window.
    rotated: Option<(String, String, String)>,
    revoked: bool,
}

/// An answer on the wire; its `Set-Cookie` reaches the jar when it arrives.
struct InFlight {
    path: String,
    set_cookie: Option<Option<String>>,
    arrived: bool,
}

/// A server that accepts exactly one access token at a time, and the browser's cookie jar.
pub(super) struct FakeServer {
    pub(super) accepted_token: RefCell<String>,
    pub(super) issued: Cell<u32>,
    pub(super) refresh_answer: Cell<RefreshAnswer>,
    /// Every request it received, with the Bearer token it carried.
    pub(super) log: RefCell<Vec<(RequestRecipe, Option<String>)>>,
    /// Every refresh's status, in the order they were answered.
    pub(super) refresh_statuses: RefCell<Vec<u16>>,
    /// Rotate the token but keep refusing it: a broken server that would loop a naive client.
    pub(super) refuses_every_token: Cell<bool>,
    /// No answer to anything: the network is gone.
    pub(super) unreachable: Cell<bool>,
    /// The sign-out is answered `429 too_many_attempts` (its account's share of DPoP proofs is used), nothing
    /// revoked.
    pub(super) throttles_sign_outs: Cell<bool>,
    /// The browser's refresh cookie, as the last answer to arrive set it.
    pub(super) jar: RefCell<Option<String>>,
    families: RefCell<Vec<Family>>,
    /// Answers to these paths wait on the wire (the server has already acted on the request).
    held: RefCell<Vec<String>>,
    wire: RefCell<Vec<InFlight>>,
    /// DPoP, as the real server checks it (RFC 9449): a sign-in with a proof binds its session; a bound
    /// session's requests need `Authorization: DPoP` and a proof (with the token's hash), its refresh a proof.
    pub(super) bound_sessions: RefCell<Vec<String>>,
    /// The nonce the server demands in every proof (`use_dpop_nonce` otherwise), if any.
    pub(super) demanded_nonce: RefCell<Option<String>>,
    /// The nonce the next answer to a request with a proof brings (`DPoP-Nonce`), if any.
    pub(super) next_nonce: RefCell<Option<String>>,
    /// Whether the accepted access token is bound to a key.
    accepted_is_bound: Cell<bool>,
}

impl FakeServer {
    /// Signed in: the session's first cookie `r0` in the jar, its access token `t0` accepted.
    pub(super) fn new() -> Rc<Self> {
        Rc::new(Self {
            accepted_token: RefCell::new("t0".to_owned()),
            issued: Cell::new(0),
            refresh_answer: Cell::new(RefreshAnswer::Rotate),
            log: RefCell::new(Vec::new()),
            refresh_statuses: RefCell::new(Vec::new()),
            refuses_every_token: Cell::new(false),
            unreachable: Cell::new(false),
            throttles_sign_outs: Cell::new(false),
            jar: RefCell::new(Some("r0".to_owned())),
            families: RefCell::new(vec![Family { current: "r0".to_owned(), rotated: None, revoked: false }]),
            held: RefCell::new(Vec::new()),
            wire: RefCell::new(Vec::new()),
            bound_sessions: RefCell::new(Vec::new()),
            demanded_nonce: RefCell::new(None),
            next_nonce: RefCell::new(None),
            accepted_is_bound: Cell::new(false),
        })
    }

    /// The DPoP proof each request to `path` carried, as its claims.
    pub(super) fn proofs_to(&self, path: &str) -> Vec<Option<serde_json::Value>> {
        self.requests_to(path).iter().map(|(request, _)| proof_claims(request)).collect()
    }

    pub(super) fn refresh_requests(&self) -> Vec<RequestRecipe> {
        self.requests_to(REFRESH_PATH).into_iter().map(|(request, _)| request).collect()
    }

    pub(super) fn refreshes(&self) -> usize {
        self.log.borrow().iter().filter(|(request, _)| request.path == REFRESH_PATH).count()
    }

    pub(super) fn requests_to(&self, path: &str) -> Vec<(RequestRecipe, Option<String>)> {
        self.log.borrow().iter().filter(|(request, _)| request.path == path).cloned().collect()
    }

    pub(super) fn expire_access_token(&self) {
        *self.accepted_token.borrow_mut() = "nobody has this token".to_owned();
    }

    /// Answers to `path` wait on the wire until [`FakeServer::release`].
    pub(super) fn hold(&self, path: &str) {
        self.held.borrow_mut().push(path.to_owned());
    }

    /// The held answers to `path` arrive: their cookies reach the jar now, even if nobody waits for them.
    pub(super) fn release(&self, path: &str) {
        self.held.borrow_mut().retain(|held| held != path);
        let arriving: Vec<usize> =
            (0..self.wire.borrow().len()).filter(|&at| self.wire.borrow()[at].path == path).collect();
        for at in arriving {
            self.arrive(at);
        }
    }

    fn is_held(&self, path: &str) -> bool {
        self.held.borrow().iter().any(|held| held == path)
    }

    fn arrive(&self, at: usize) {
        let mut wire = self.wire.borrow_mut();
        let answer = &mut wire[at];
        if !answer.arrived {
            answer.arrived = true;
            if let Some(cookie) = answer.set_cookie.clone() {
                *self.jar.borrow_mut() = cookie;
            }
        }
    }

    fn next_access_token(&self) -> String {
        self.issued.set(self.issued.get() + 1);
        let token = format!("t{}", self.issued.get());
        if !self.refuses_every_token.get() {
            *self.accepted_token.borrow_mut() = token.clone();
        }
        token
    }

    /// Acts on a request the moment it reaches the server: the answer, and what its `Set-Cookie` does to the jar
    /// (`Some(None)` clears the cookie).
    fn act(
        &self,
        request: &RequestRecipe,
        bearer: Option<&str>,
        cookie: Option<&str>,
    ) -> (Result<Response, TransportError>, Option<Option<String>>) {
        let json = |status, body: &str| Ok(Response::new(status, body));
        let refusal = |code: &str| json(403, &format!(r#"{{"error":"{code}","message":"refused"}}"#));
        let claims = proof_claims(request);
        let at_auth = request.path.starts_with("/auth");
        let proof_refused = |code: &str| {
            let status = if at_auth { 400 } else { 401 };
            json(status, &format!(r#"{{"error":"{code}","message":"DPoP"}}"#))
        };
        if let (Some(claims), Some(demanded)) = (&claims, self.demanded_nonce.borrow().as_ref())
            && claims.get("nonce").and_then(serde_json::Value::as_str) != Some(demanded.as_str())
        {
            {
                // The nonce to use: the demanded one, unless the test makes the server give another.
                let given = self.next_nonce.borrow().clone().unwrap_or_else(|| demanded.clone());
                let answer = proof_refused("use_dpop_nonce").map(|answer| answer.with_header("DPoP-Nonce", &given));
                return (answer, None);
            }
        }
        let (answer, set_cookie) = self.act_on(request, bearer, cookie, claims.as_ref(), &proof_refused, &refusal);
        let with_nonce = match (claims.is_some(), self.next_nonce.borrow().as_ref()) {
            (true, Some(nonce)) => answer.map(|answer| answer.with_header("DPoP-Nonce", nonce)),
            _ => answer,
        };
        (with_nonce, set_cookie)
    }

    fn act_on(
        &self,
        request: &RequestRecipe,
        bearer: Option<&str>,
        cookie: Option<&str>,
        claims: Option<&serde_json::Value>,
        proof_refused: &dyn Fn(&str) -> Result<Response, TransportError>,
        refusal: &dyn Fn(&str) -> Result<Response, TransportError>,
    ) -> (Result<Response, TransportError>, Option<Option<String>>) {
        let json = |status, body: &str| Ok(Response::new(status, body));
        let htu_is =
            |path: &str| claims.and_then(|claims| claims["htu"].as_str()) == Some(format!("{ORIGIN}{path}").as_str());
        match request.path.as_str() {
            REFRESH_PATH if self.is_bound(cookie) && !htu_is(REFRESH_PATH) => {
                (proof_refused("invalid_dpop_proof"), None)
            }
            REFRESH_PATH => {
                let (answer, set_cookie) = match self.refresh_answer.get() {
                    RefreshAnswer::Rotate => self.rotate(cookie, false),
                    RefreshAnswer::RotateAndLoseTheAnswer => self.rotate(cookie, true),
                    RefreshAnswer::Forbidden => (refusal("session_expired"), Some(None)),
                    RefreshAnswer::Reused => (refusal("refresh_token_reused"), Some(None)),
                    RefreshAnswer::ForbiddenByAProxy => (json(403, "<html>Forbidden</html>"), None),
                    RefreshAnswer::ForbiddenAsCsrf => (refusal("csrf"), None),
                    RefreshAnswer::TooManyAttempts => (
                        json(429, r#"{"error":"too_many_attempts","message":"slow down"}"#)
                            .map(|response| response.with_header("Retry-After", "5")),
                        None,
                    ),
                    RefreshAnswer::Unreachable => (Err(TransportError::Network), None),
                    RefreshAnswer::TimedOut => (Err(TransportError::Timeout), None),
                    RefreshAnswer::ServerError => (json(503, ""), None),
                };
                if let Ok(response) = &answer {
                    self.refresh_statuses.borrow_mut().push(response.status);
                }
                (answer, set_cookie)
            }
            LOGIN_PATH => {
                let body = String::from_utf8_lossy(request.body.as_deref().unwrap_or_default()).into_owned();
                if !body.ends_with(r#""password":"right"}"#) {
                    return (json(401, r#"{"error":"invalid_credentials","message":"wrong password"}"#), None);
                }
                let username: String = body.split('"').nth(3).unwrap_or_default().to_owned();
                let session = format!("{username}-{}", self.families.borrow().len());
                let token = format!("h.p.{session}");
                *self.accepted_token.borrow_mut() = token.clone();
                let cookie = format!("r-{session}");
                self.families.borrow_mut().push(Family { current: cookie.clone(), rotated: None, revoked: false });
                let bound = htu_is(LOGIN_PATH);
                self.accepted_is_bound.set(bound);
                if bound {
                    self.bound_sessions.borrow_mut().push(cookie.clone());
                }
                (json(200, &token_body(&token, bound)), Some(Some(cookie)))
            }
            LOGOUT_PATH if self.throttles_sign_outs.get() => {
                (json(429, r#"{"error":"too_many_attempts","message":"wait"}"#), None)
            }
            LOGOUT_PATH => {
                // A bound session ends only with a proof of its key.
                if let Some(family) = self.family_of(cookie).filter(|_| !self.is_bound(cookie) || htu_is(LOGOUT_PATH)) {
                    self.families.borrow_mut()[family].revoked = true;
                }
                (Ok(Response::new(204, "")), Some(None))
            }
            _ if self.accepted_is_bound.get() => {
                let accepted = self.accepted_token.borrow().clone();
                let as_dpop = header(request, "Authorization") == Some(format!("DPoP {accepted}")).as_deref();
                let proven = htu_is(request.path.split('?').next().unwrap_or_default())
                    && claims.and_then(|claims| claims["ath"].as_str()) == Some(known_hash(&accepted).as_str());
                match (bearer, as_dpop, proven) {
                    (None, true, true) => (json(200, r#"{"ok":true}"#), None),
                    (None, true, false) => (proof_refused("invalid_dpop_proof"), None),
                    _ => (json(401, r#"{"error":"invalid_token","message":"expired"}"#), None),
                }
            }
            _ if bearer == Some(self.accepted_token.borrow().as_str()) => (json(200, r#"{"ok":true}"#), None),
            _ => (json(401, r#"{"error":"invalid_token","message":"expired"}"#), None),
        }
    }

    /// Whether `cookie` belongs to a session bound to a key.
    fn is_bound(&self, cookie: Option<&str>) -> bool {
        let Some(family) = self.family_of(cookie) else { return false };
        let first = self.families.borrow()[family].current.trim_end_matches('+').to_owned();
        self.bound_sessions.borrow().contains(&first)
    }

    /// The live family whose current or just-rotated cookie is `cookie`.
    fn family_of(&self, cookie: Option<&str>) -> Option<usize> {
        let cookie = cookie?;
        self.families.borrow().iter().position(|family| {
            !family.revoked
                && (family.current == cookie || family.rotated.as_ref().is_some_and(|(used, ..)| used == cookie))
        })
    }

    fn rotate(
        &self,
        cookie: Option<&str>,
        lose_the_answer: bool,
    ) -> (Result<Response, TransportError>, Option<Option<String>>) {
        let Some(at) = self.family_of(cookie) else {
            return (Ok(Response::new(403, r#"{"error":"session_expired","message":"expired"}"#)), Some(None));
        };
        let bound = self.is_bound(cookie);
        let mut families = self.families.borrow_mut();
        let family = &mut families[at];
        if let Some((_, child, token)) = family.rotated.as_ref().filter(|(used, ..)| Some(used.as_str()) == cookie) {
            // Inside the grace window: the same child again.
            return (Ok(Response::new(200, token_body(token, bound))), Some(Some(child.clone())));
        }
        let token = self.next_access_token();
        self.accepted_is_bound.set(bound);
        let child = format!("{}+", family.current);
        family.rotated = Some((family.current.clone(), child.clone(), token.clone()));
        family.current.clone_from(&child);
        if lose_the_answer {
            return (Err(TransportError::Timeout), None);
        }
        (Ok(Response::new(200, token_body(&token, bound))), Some(Some(child)))
    }
}

fn token_body(token: &str, bound: bool) -> String {
    let token_type = if bound { "DPoP" } else { "Bearer" };
    format!(r#"{{"accessToken":"{token}","tokenType":"{token_type}","expiresIn":900}}"#)
}

/// The origin the fake transport's URLs have.
pub(super) const ORIGIN: &str = "https://app.example";

fn header<'a>(request: &'a RequestRecipe, name: &str) -> Option<&'a str> {
    request.headers.iter().find(|(header, _)| header.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// The claims of the request's DPoP proof, if it carries one.
fn proof_claims(request: &RequestRecipe) -> Option<serde_json::Value> {
    header(request, "DPoP").map(|proof| parts_of(proof).1)
}

pub(super) struct FakeTransport(pub(super) Rc<FakeServer>);

impl Transport for FakeTransport {
    fn url(&self, path: &str) -> String {
        format!("{ORIGIN}{path}")
    }

    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError> {
        let server = &self.0;
        server.log.borrow_mut().push((request.clone(), bearer.map(str::to_owned)));
        // The browser sends the jar's cookie (`Path=/auth`) as it is when the request leaves.
        let cookie = request.path.starts_with("/auth").then(|| server.jar.borrow().clone()).flatten();
        turns(if request.path.starts_with("/slow") { 10 } else { 1 }).await;
        if server.unreachable.get() {
            return Err(TransportError::Network);
        }
        let (answer, set_cookie) = server.act(request, bearer, cookie.as_deref());
        let at = {
            let mut wire = server.wire.borrow_mut();
            wire.push(InFlight { path: request.path.clone(), set_cookie, arrived: false });
            wire.len() - 1
        };
        loop {
            if !server.is_held(&request.path) {
                server.arrive(at);
            }
            if server.wire.borrow()[at].arrived {
                return answer;
            }
            YieldOnce(false).await;
        }
    }
}

/// Shared between clients the way localStorage is shared between tabs.
#[derive(Clone, Default)]
pub(super) struct MemoryStore(pub(super) Rc<RefCell<Option<AccessToken>>>, pub(super) Rc<Cell<bool>>);

impl MemoryStore {
    /// A store of its own holding `token`: one tab's view.
    pub(super) fn holding(token: Option<AccessToken>) -> Self {
        Self(Rc::new(RefCell::new(token)), Rc::default())
    }
}

impl TokenStore for MemoryStore {
    fn set_logout_pending(&self, pending: bool) {
        self.1.set(pending);
    }
    fn logout_pending(&self) -> bool {
        self.1.get()
    }
    fn load(&self) -> Option<AccessToken> {
        self.0.borrow().clone()
    }
    fn save(&self, token: &AccessToken) {
        *self.0.borrow_mut() = Some(token.clone());
    }
    fn clear(&self) {
        *self.0.borrow_mut() = None;
    }
}

/// Moves only when a test moves it; `0` is the wall clock, which a test may also set back.
#[derive(Clone, Default)]
pub(super) struct FakeClock(pub(super) Rc<Cell<f64>>, pub(super) Rc<Cell<f64>>);

impl FakeClock {
    /// Both clocks read `ms` since the test began.
    pub(super) fn set(&self, ms: f64) {
        self.0.set(ms);
        self.1.set(ms);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> f64 {
        self.0.get()
    }
    fn monotonic_ms(&self) -> f64 {
        self.1.get()
    }
}
