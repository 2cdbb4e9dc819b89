//! Tables for documents (Markdown and LaTeX), built from the JSON of the records they show:
//! each column reads one key of each record and formats it one fixed way, so every number in a
//! table is the JSON value written next to it, rounded as the column says.

use super::table::is_numeric;
use serde_json::Value;

/// How a column prints its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Show {
    /// The value as it is (text, integer, boolean).
    Plain,
    /// A number with this many decimals.
    Fixed(usize),
    /// Bytes as decimal gigabytes with two decimals.
    Gb,
    /// A number in scientific notation with three decimals.
    Sci,
    /// A fraction as a percentage with two decimals.
    Percent,
}

impl Show {
    /// The cell for `v`; `null` (not computed) prints as a dash.
    pub fn cell(self, v: &Value) -> String {
        let num = v.as_f64();
        match (self, num) {
            (_, _) if v.is_null() => "-".to_owned(),
            (Show::Fixed(d), Some(x)) => format!("{x:.d$}"),
            (Show::Gb, Some(x)) => format!("{:.2}", x / 1e9),
            (Show::Sci, Some(x)) => format!("{x:.3e}"),
            (Show::Percent, Some(x)) => format!("{:.2}", 100.0 * x),
            (_, _) => match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        }
    }
}

/// One column: its title, the dotted key it reads, and how it prints.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub title: &'static str,
    pub key: &'static str,
    pub show: Show,
}

/// Shorthand for a column.
pub const fn col(title: &'static str, key: &'static str, show: Show) -> Column {
    Column { title, key, show }
}

/// The value at a dotted key (`record.decode_tokens_per_s`), `null` when absent.
pub fn lookup<'a>(v: &'a Value, key: &str) -> &'a Value {
    key.split('.')
        .try_fold(v, |node, k| node.get(k))
        .unwrap_or(&Value::Null)
}

/// A captioned table of cells.
#[derive(Clone, Debug, PartialEq)]
pub struct DocTable {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl DocTable {
    /// One row per record, one cell per column.
    pub fn from_json(caption: &str, columns: &[Column], records: &[Value]) -> Self {
        DocTable {
            caption: caption.to_owned(),
            header: columns.iter().map(|c| c.title.to_owned()).collect(),
            rows: records
                .iter()
                .map(|r| {
                    columns
                        .iter()
                        .map(|c| c.show.cell(lookup(r, c.key)))
                        .collect()
                })
                .collect(),
        }
    }

    /// Columns whose every cell is a number or a dash (not computed), with one number at least:
    /// they are right-aligned, so that their digits line up.
    fn numeric_columns(&self) -> Vec<bool> {
        (0..self.header.len())
            .map(|i| {
                let cells = || self.rows.iter().filter_map(|r| r.get(i));
                cells().any(|c| is_numeric(c)) && cells().all(|c| c == "-" || is_numeric(c))
            })
            .collect()
    }

    /// GitHub-flavoured Markdown, the caption in bold above, numeric columns right-aligned.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| {
            let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", escaped.join(" | "))
        };
        let mut out = format!("**{}**\n\n", self.caption);
        out += &line(&self.header);
        let rule: String = self
            .numeric_columns()
            .iter()
            .map(|&n| if n { "---:|" } else { "---|" })
            .collect();
        out += &format!("|{rule}\n");
        for r in &self.rows {
            out += &line(r);
        }
        out
    }

    /// A LaTeX `table` with a `tabular` (booktabs rules, numeric columns right-aligned), cells
    /// escaped, captioned and labelled `tab:LABEL` for `\ref`.
    pub fn latex(&self, label: &str) -> String {
        let line = |cells: &[String]| {
            let escaped: Vec<String> = cells.iter().map(|c| latex_escape(c)).collect();
            format!("{} \\\\\n", escaped.join(" & "))
        };
        let align: String = self
            .numeric_columns()
            .iter()
            .map(|&n| if n { 'r' } else { 'l' })
            .collect();
        let mut out = format!(
            "\\begin{{table}}\n\\centering\n\\caption{{{}}}\n\\label{{tab:{}}}\n\\begin{{tabular}}{{{align}}}\n\\toprule\n",
            latex_escape(&self.caption),
            latex_escape(label)
        );
        out += &line(&self.header);
        out += "\\midrule\n";
        for r in &self.rows {
            out += &line(r);
        }
        out += "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
        out
    }
}

fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out += "\\textbackslash{}",
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out += "\\textasciitilde{}",
            '^' => out += "\\textasciicircum{}",
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_follow_the_json_and_escape_for_each_syntax() {
        let records =
            [json!({"a": {"b": 1.23456}, "n": "x_1|y", "g": 30_612_000_000u64, "z": null})];
        let t = DocTable::from_json(
            "Test 50%",
            &[
                col("b", "a.b", Show::Fixed(2)),
                col("name", "n", Show::Plain),
                col("GB", "g", Show::Gb),
                col("z", "z", Show::Sci),
                col("missing", "q", Show::Plain),
            ],
            &records,
        );
        assert_eq!(t.rows[0], ["1.23", "x_1|y", "30.61", "-", "-"]);
        assert!(t.markdown().contains("| 1.23 | x_1\\|y | 30.61 | - | - |"));
        assert!(t.markdown().contains("|---:|---|---:|---|---|"));
        let tex = t.latex("test");
        assert!(tex.contains("\\label{tab:test}\n\\begin{tabular}{rlrll}"));
        assert!(tex.contains("1.23 & x\\_1|y & 30.61 & - & - \\\\"));
        assert!(tex.contains("\\caption{Test 50\\%}"));
    }
}
