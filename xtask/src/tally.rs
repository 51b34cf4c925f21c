//! The closing line of `check` and `test`: every check and every test of every suite, summed.

/// What has passed and failed so far, and the names of what failed.
#[derive(Default)]
pub struct Tally {
    passed: u64,
    failed: u64,
    failures: Vec<String>,
}

impl Tally {
    /// A check that passes or fails as a whole (format, lint, build).
    pub fn check(&mut self, name: &str, (success, _): (bool, String)) {
        if success {
            self.passed += 1;
        } else {
            self.fail(name);
        }
    }

    /// A test suite: its `test result:` lines count; a run that failed without one counts as one failure.
    pub fn suite(&mut self, name: &str, (success, output): (bool, String)) {
        let (passed, failed) = count_results(&output);
        self.passed += passed;
        self.failed += failed;
        if !success && failed == 0 {
            self.failed += 1;
        }
        if !success {
            self.failures.push(name.to_owned());
        }
    }

    /// Something that could not even run.
    pub fn fail(&mut self, name: &str) {
        self.failed += 1;
        self.failures.push(name.to_owned());
    }

    /// Prints what failed and the closing `N passed, N failed` line.
    ///
    /// # Errors
    /// When anything failed.
    pub fn finish(self) -> Result<(), String> {
        if !self.failures.is_empty() {
            println!("\nfailed: {}", self.failures.join(", "));
        }
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 { Ok(()) } else { Err(format!("{} failed", self.failed)) }
    }
}

/// Sums `test result: ok. 12 passed; 0 failed; …` lines (cargo test and wasm-bindgen-test print the same form).
fn count_results(output: &str) -> (u64, u64) {
    let number_before = |line: &str, word: &str| -> u64 {
        line.split(';')
            .find_map(|part| part.trim().strip_suffix(word)?.trim().rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    output.lines().filter(|line| line.contains("test result:")).fold((0, 0), |(passed, failed), line| {
        (passed + number_before(line, "passed"), failed + number_before(line, "failed"))
    })
}

#[cfg(test)]
mod tests {
    use super::{Tally, count_results};

    #[test]
    fn sums_every_result_line() {
        let output = "test result: ok. 12 passed; 0 failed; 0 ignored\nnoise\ntest result: FAILED. 3 passed; 2 failed; 1 ignored";
        assert_eq!(count_results(output), (15, 2));
        assert_eq!(count_results("no tests here"), (0, 0));
    }

    #[test]
    fn a_suite_that_fails_without_a_result_line_counts_as_one_failure() {
        let mut tally = Tally::default();
        tally.suite("ran", (true, "test result: ok. 4 passed; 0 failed".to_owned()));
        tally.suite("did not build", (false, "error[E0425]".to_owned()));
        tally.check("fmt", (true, String::new()));
        assert_eq!((tally.passed, tally.failed), (5, 1));
        assert_eq!(tally.failures, ["did not build"]);
        assert!(tally.finish().is_err());
    }
}
