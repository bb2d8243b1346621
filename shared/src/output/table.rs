//! kubectl-style tables: upper-case headers, no borders, three spaces between columns, no
//! trailing whitespace. Cells may carry colours; widths ignore them.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};

use super::color::visible_width;

/// Renders rows under a header.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    t.set_header(header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        t.add_row(r.clone());
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 3));
        c.set_cell_alignment(CellAlignment::Left);
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders pre-split lines as columns aligned by visible width (for trees, where cells carry
/// tree glyphs and colours).
pub fn columns(header: &[String], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| visible_width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(visible_width(c));
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[String]| {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate().take(n) {
            line.push_str(c);
            if i + 1 < n {
                let pad = widths[i] - visible_width(c) + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(header);
    for r in rows {
        push_row(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_layout() {
        let out = render(
            &["NAME", "AGE"],
            &[
                vec!["a".into(), "5m".into()],
                vec!["longer-name".into(), "".into()],
            ],
        );
        assert_eq!(out, "NAME          AGE\na             5m\nlonger-name\n");
        let out = columns(
            &["A".into(), "B".into()],
            &[vec!["\u{1b}[31mred\u{1b}[0m".into(), "x".into()]],
        );
        assert_eq!(out, "A    B\n\u{1b}[31mred\u{1b}[0m  x\n");
    }
}
