//! axe-core in the page under test: WCAG 2.1 A and AA rules and axe's best practices.

use std::path::PathBuf;

use crate::Browser;

impl Browser {
    /// What axe-core finds wrong with the page as it is now, one line a rule: `id (impact): selectors`.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let axe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("axe/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe)
            .unwrap_or_else(|error| panic!("no {}: {error} (run `cargo xtask setup`)", axe.display()));
        self.client.execute(&format!("{source}\nreturn true;"), vec![]).await.expect("axe-core loads");
        let run = "const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
                .then(result => done(result.violations.map(rule =>
                    rule.id + ' (' + rule.impact + '): ' + rule.nodes.map(node => node.target.join(' ')).join(', '))))
                .catch(error => done(['axe failed: ' + error]));";
        let found = self.client.execute_async(run, vec![]).await.expect("axe-core runs");
        serde_json::from_value(found).expect("a list of violations")
    }
}
