//! How figures are printed in the report and on the charts.

/// Format a throughput with three significant digits.
pub fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Format a node count with thousands separators.
pub fn count(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `1 thread`, `2 threads`.
pub fn threads(t: usize) -> String {
    format!("{t} thread{}", if t == 1 { "" } else { "s" })
}

/// A ratio in a table cell.
pub fn ratio(r: f64) -> String {
    if r == 0.0 {
        "0×".to_string()
    } else if r < 0.01 {
        format!("{r:.4}×")
    } else {
        format!("{r:.2}×")
    }
}

/// A ratio checked against `need`: two decimals, or as many more (up to six) as it takes for a
/// miss not to round up to the target.
pub fn target_ratio(got: f64, need: f64) -> String {
    let mut precision = 2;
    while got < need
        && precision < 6
        && format!("{got:.precision$}") == format!("{need:.precision$}")
    {
        precision += 1;
    }
    format!("{got:.precision$}×")
}

/// A figure of `metric`: a rate for throughputs (`*mops`), a count otherwise.
pub fn value(metric: &str, v: f64) -> String {
    if metric.ends_with("mops") {
        rate(v)
    } else {
        count(v)
    }
}

#[cfg(test)]
mod tests {
    use super::target_ratio;

    #[test]
    fn a_missed_ratio_never_prints_as_the_target() {
        assert_eq!(target_ratio(1.2994, 1.3), "1.299×");
        assert_eq!(target_ratio(1.29993, 1.3), "1.2999×");
        assert_eq!(target_ratio(1.2, 1.3), "1.20×");
        assert_eq!(target_ratio(1.3004, 1.3), "1.30×");
    }
}
