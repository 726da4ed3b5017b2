//! Which progress reports the worker posts to the page. A relevance pass reports every node of
//! the graph (~250 on EfficientNet-Lite0 in ~70 ms), and each post is a JSON encoding and a
//! `postMessage` in the worker, then a redraw of the page's status in the page. Both take time
//! from the computation: on two cores, the page's redraws (style, layout, paint and compositing,
//! with the renderer's other threads) compete with the worker for the second core. Posting every
//! node cost R-LRP ~10 ms; once a frame (16 ms), αβ still ran 4–11 ms slower than at most every
//! [`PROGRESS_EVERY_MS`], which ran as fast as with no report at all. So the worker posts a
//! report when the stage or its total changes, when the stage is done, and otherwise at most
//! every [`PROGRESS_EVERY_MS`]: ten updates a second, smooth for the long computations a progress
//! bar is for. (RLRP.md has no section here.)
use super::protocol::Stage;

/// How often the page hears of a computation's progress, at most (besides its stages' changes
/// and ends).
pub const PROGRESS_EVERY_MS: f64 = 100.0;

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
    fn posts_stage_changes_ends_and_one_report_an_interval() {
        let mut p = ProgressThrottle::new(PROGRESS_EVERY_MS);
        assert!(p.admit(Stage::Forward, 0, 1, 0.0), "the first report");
        assert!(p.admit(Stage::Relevance, 0, 250, 1.0), "a new stage");
        assert!(!p.admit(Stage::Relevance, 1, 250, 2.0));
        assert!(!p.admit(Stage::Relevance, 100, 250, 100.9));
        assert!(p.admit(Stage::Relevance, 101, 250, 101.0), "an interval later");
        assert!(!p.admit(Stage::Relevance, 102, 250, 120.0));
        assert!(p.admit(Stage::Relevance, 250, 250, 121.0), "the stage done");
        assert!(p.admit(Stage::Relevance, 0, 120, 122.0), "another total: another pass");
        assert!(p.admit(Stage::Forward, 0, 1, 123.0));
    }

    #[test]
    fn without_a_clock_every_report_is_posted() {
        let mut p = ProgressThrottle::new(PROGRESS_EVERY_MS);
        assert!((0..5).all(|d| p.admit(Stage::Relevance, d, 10, f64::NAN)));
    }
}
