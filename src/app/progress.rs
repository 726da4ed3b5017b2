//! Which progress reports the worker posts to the page. A relevance pass reports every node of
//! the graph (~250 on EfficientNet-Lite0 in ~70 ms), and each post is a JSON encoding and a
//! `postMessage`: posting them all cost the explanation time. The page redraws at most once a
//! frame, so the worker posts a report when the stage or its total changes, when the stage is
//! done, and otherwise at most once a frame ([`FRAME_MS`]; pixel flipping, whose reports repaint
//! more of the page, uses a longer interval). (RLRP.md has no section here.)
use super::protocol::Stage;

/// The page's frame, about: progress more often than this is never seen.
pub const FRAME_MS: f64 = 16.0;

/// Decides, report by report, which to post.
#[derive(Debug)]
pub struct ProgressThrottle {
    /// The least time between two reports of the same stage and total, in milliseconds.
    every_ms: f64,
    last: Option<(Stage, usize, f64)>,
}

impl ProgressThrottle {
    /// Posts at most one report of a stage every `every_ms` milliseconds (besides its changes and
    /// its end).
    pub fn new(every_ms: f64) -> ProgressThrottle {
        ProgressThrottle { every_ms, last: None }
    }

    /// True when the report (`stage`, `done` of `total`) made at `now_ms` (a clock in
    /// milliseconds; NaN where the worker has none, and then every report is posted) is posted.
    pub fn admit(&mut self, stage: Stage, done: usize, total: usize, now_ms: f64) -> bool {
        let post = match self.last {
            None => true,
            Some((s, t, at)) => {
                let waited = now_ms - at;
                s != stage || t != total || done >= total || waited >= self.every_ms || waited.is_nan()
            }
        };
        if post {
            self.last = Some((stage, total, now_ms));
        }
        post
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_stage_changes_ends_and_one_report_a_frame() {
        let mut p = ProgressThrottle::new(FRAME_MS);
        assert!(p.admit(Stage::Forward, 0, 1, 0.0), "the first report");
        assert!(p.admit(Stage::Relevance, 0, 250, 1.0), "a new stage");
        assert!(!p.admit(Stage::Relevance, 1, 250, 2.0));
        assert!(!p.admit(Stage::Relevance, 100, 250, 16.9));
        assert!(p.admit(Stage::Relevance, 101, 250, 17.0), "a frame later");
        assert!(!p.admit(Stage::Relevance, 102, 250, 20.0));
        assert!(p.admit(Stage::Relevance, 250, 250, 21.0), "the stage done");
        assert!(p.admit(Stage::Relevance, 0, 120, 22.0), "another total: another pass");
        assert!(p.admit(Stage::Forward, 0, 1, 23.0));
    }

    #[test]
    fn without_a_clock_every_report_is_posted() {
        let mut p = ProgressThrottle::new(FRAME_MS);
        assert!((0..5).all(|d| p.admit(Stage::Relevance, d, 10, f64::NAN)));
    }
}
