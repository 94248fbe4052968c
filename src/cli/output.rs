//! Printing results: aligned tables for people, JSON for scripts.

/// How a command prints its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header row.
    Table,
    /// One JSON document.
    Json,
}

/// Renders rows as columns aligned under a header, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        // Padded by hand: a format width is limited to u16, and a stored value may be longer.
        for (cell, w) in cells.zip(&widths) {
            let pad = w.saturating_sub(cell.chars().count());
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', pad + 2));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_under_the_header() {
        let t = super::table(&["A", "LONG"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONG\nxyz  1\n");
    }

    #[test]
    fn cells_longer_than_a_format_width_and_non_ascii_cells_print() {
        let long = "é".repeat(70_000);
        let t = super::table(&["NAME", "X"], &[vec![long.clone(), "1".into()]]);
        assert!(t.ends_with(&format!("{long}  1\n")));
        assert!(t.starts_with(&format!("NAME{}X\n", " ".repeat(70_000 - 4 + 2))));
    }
}
