//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary directory, started on a free
//! loopback port with trust authentication and TLS (a certificate for `localhost` and `127.0.0.1` from a CA made
//! for the run, as a managed PostgreSQL would offer), stopped and removed when dropped. As root, the server
//! programs run as the unprivileged `postgres` user (they refuse root).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::process::free_port;

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct TempCluster {
    dir: PathBuf,
    port: u16,
}

impl TempCluster {
    pub fn start() -> Result<Self, String> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("session-postgres-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let cluster = Self { dir, port };
        if is_root() {
            let owner = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&cluster.dir).status();
            if !owner.is_ok_and(|status| status.success()) {
                return Err("cannot give the cluster's directory to the postgres user".to_owned());
            }
        }
        let data = cluster.dir.join("data");
        let data = data.to_string_lossy();
        cluster.run("initdb", &["-D", &data, "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--no-sync"])?;
        write_certificates(&cluster.dir)?;
        if is_root() {
            let owner = Command::new("chown")
                .args(["postgres:postgres", "server.crt", "server.key"])
                .current_dir(&cluster.dir)
                .status();
            if !owner.is_ok_and(|status| status.success()) {
                return Err("cannot give the cluster's key to the postgres user".to_owned());
            }
        }
        let options = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c ssl=on \
             -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            port = cluster.port,
            dir = cluster.dir.display()
        );
        let log = cluster.dir.join("server.log");
        cluster.run("pg_ctl", &["-D", &data, "-o", &options, "-l", &log.to_string_lossy(), "-w", "start"])?;
        Ok(cluster)
    }

    /// The `postgres` database as the `postgres` superuser: tests create a database of their own in it.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The certificate of the CA that signed the cluster's: `sslrootcert` for `sslmode=verify-full`.
    pub fn ca_certificate(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The folder holding `ca.crt`, and `server.crt` with `server.key` (for `localhost`, `127.0.0.1` and
    /// `app.example`): the e2e suite's TLS proxy presents the same certificate.
    pub fn certificates(&self) -> &std::path::Path {
        &self.dir
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let program = format!("{BIN}/{program}");
        let mut command = if is_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--", &program]);
            runuser
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run {program}: {error} (is Debian's postgresql installed?)"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("{program} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
        }
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA for this run, and the cluster's certificate and key signed by it.
fn write_certificates(dir: &std::path::Path) -> Result<(), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let failed = |error: rcgen::Error| format!("cannot make the cluster's certificate: {error}");
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "the session tests' throwaway CA");
    let ca = ca.self_signed(&ca_key).map_err(failed)?;
    let key = KeyPair::generate().map_err(failed)?;
    // `app.example` too: the e2e suite's TLS proxy presents this certificate under the docs' public name.
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "app.example".to_owned()];
    let certificate = CertificateParams::new(names).map_err(failed)?.signed_by(&key, &ca, &ca_key).map_err(failed)?;
    let write = |name: &str, contents: String| {
        std::fs::write(dir.join(name), contents).map_err(|error| format!("cannot write {name}: {error}"))
    };
    write("ca.crt", ca.pem())?;
    write("server.crt", certificate.pem())?;
    write("server.key", key.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600))
            .map_err(|error| format!("cannot narrow the key's mode: {error}"))?;
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}
