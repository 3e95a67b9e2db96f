//! Median, spread and paired ratios over the repetitions of one cell.

use crate::driver::{Run, Sample};
use crate::workloads::Workload;

/// Median and spread of the repetitions of one cell.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest repetition.
    pub min: f64,
    /// Largest repetition.
    pub max: f64,
}

/// Median, min and max of `v` (`None` when empty).
pub fn stat(v: &[f64]) -> Option<Stat> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: s[0],
        max: s[n - 1],
    })
}

impl Run {
    /// Every repetition of one cell.
    pub fn cell_samples(&self, w: Workload, lib: &str, threads: usize) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.workload == w && s.lib == lib && s.threads == threads)
            .collect()
    }

    /// Statistic of `metric` over the repetitions of one cell.
    pub fn stat(&self, w: Workload, lib: &str, threads: usize, metric: &str) -> Option<Stat> {
        let v: Vec<f64> = self
            .cell_samples(w, lib, threads)
            .iter()
            .filter_map(|s| s.outcome.get(metric))
            .collect();
        stat(&v)
    }

    /// Median of `lib / reference` over the repetitions measured by both, pairing each
    /// repetition with the same repetition of the reference. The libraries of one repetition run
    /// back to back, so a stretch of host slowdown (this is a shared 2-core VM) that hits one
    /// repetition hits both sides of its ratio; a ratio of medians would mix repetitions.
    pub fn ratio(
        &self,
        w: Workload,
        lib: &str,
        reference: &str,
        threads: usize,
        metric: &str,
    ) -> Option<f64> {
        let refs = self.cell_samples(w, reference, threads);
        let v: Vec<f64> = self
            .cell_samples(w, lib, threads)
            .iter()
            .filter_map(|s| {
                let r = refs.iter().find(|r| r.rep == s.rep)?.outcome.get(metric)?;
                let x = s.outcome.get(metric)?;
                (r > 0.0).then_some(x / r)
            })
            .collect();
        stat(&v).map(|s| s.median)
    }

    /// Thread counts `w` ran at.
    pub fn threads_of(&self, w: Workload) -> Vec<usize> {
        crate::driver::thread_counts(w, &self.cfg, &self.threads)
    }
}

#[cfg(test)]
mod tests {
    use crate::driver::{Run, Sample};
    use crate::report::REFERENCE;
    use crate::workloads::{Config, Outcome, Workload};

    fn sample(lib: &'static str, rep: usize, mops: f64) -> Sample {
        Sample {
            workload: Workload::Queue,
            lib,
            threads: 2,
            rep,
            outcome: Outcome {
                metrics: vec![("mops", mops)],
                ..Outcome::default()
            },
            secs: 0.0,
        }
    }

    #[test]
    fn ratios_pair_each_repetition_with_the_same_repetition_of_the_reference() {
        // Repetition 1 ran during a host slowdown that hit both libraries, and repetition 3 has
        // no reference figure: the paired ratios are all 1.2, the ratio of the medians 9 / 10.
        let samples = vec![
            sample("kovan", 0, 12.0),
            sample(REFERENCE, 0, 10.0),
            sample("kovan", 1, 3.0),
            sample(REFERENCE, 1, 2.5),
            sample("kovan", 2, 24.0),
            sample(REFERENCE, 2, 20.0),
            sample("kovan", 3, 6.0),
        ];
        let run = Run {
            cfg: Config::new(true),
            threads: vec![2],
            libs: Vec::new(),
            workloads: vec![Workload::Queue],
            samples,
            leftovers: Vec::new(),
            started: String::new(),
            wall_secs: 0.0,
            scaling: (2, 2.0),
        };
        let r = run
            .ratio(Workload::Queue, "kovan", REFERENCE, 2, "mops")
            .unwrap();
        assert!((r - 1.2).abs() < 1e-12, "paired ratio {r}");
        assert_eq!(
            run.ratio(Workload::Queue, "kovan", "seize", 2, "mops"),
            None
        );
    }
}
