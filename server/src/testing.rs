//! For the code that runs this server on PostgreSQL in tests, benchmarks and the e2e suite (feature `testing`):
//! each run gets a database of its own in a shared cluster, so runs never see each other's sessions.

use sqlx::PgPool;

/// Creates an empty database named `{prefix}_{random}` in the cluster `cluster` points into (a URL naming any of
/// its databases, usually `postgres`) and returns the URL of the new one. `prefix` must be a plain SQL name (a
/// lowercase letter, then lowercase letters, digits or `_`): it is written into the statement as it is.
///
/// # Errors
/// When `cluster` names no database, or the cluster refuses the connection or the statement.
pub async fn fresh_postgres_database(cluster: &str, prefix: &str) -> Result<String, sqlx::Error> {
    debug_assert!(
        prefix.starts_with(|first: char| first.is_ascii_lowercase())
            && prefix.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'),
        "{prefix:?}"
    );
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let url = sibling_database(cluster, &name)
        .ok_or_else(|| sqlx::Error::Configuration(format!("{cluster} names no database").into()))?;
    let admin = PgPool::connect(cluster).await?;
    let created = sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await;
    admin.close().await;
    created.map(|_| url)
}

/// `cluster` with its database replaced by `name`, its parameters kept.
fn sibling_database(cluster: &str, name: &str) -> Option<String> {
    let (address, parameters) =
        cluster.split_once('?').map_or((cluster, None), |(address, rest)| (address, Some(rest)));
    let (server, _) = address.rsplit_once('/').filter(|(server, _)| server.contains("//") && !server.ends_with('/'))?;
    Some(match parameters {
        Some(parameters) => format!("{server}/{name}?{parameters}"),
        None => format!("{server}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::sibling_database;

    #[test]
    fn the_new_database_replaces_the_named_one_and_keeps_the_parameters() {
        for (cluster, expected) in [
            ("postgres://postgres@127.0.0.1:5432/postgres", Some("postgres://postgres@127.0.0.1:5432/run_1")),
            ("postgres://u:p@db/postgres?sslmode=disable", Some("postgres://u:p@db/run_1?sslmode=disable")),
            ("postgres://127.0.0.1/", Some("postgres://127.0.0.1/run_1")),
            ("postgres://127.0.0.1", None),
            ("not a url", None),
        ] {
            assert_eq!(sibling_database(cluster, "run_1").as_deref(), expected, "{cluster}");
        }
    }
}
