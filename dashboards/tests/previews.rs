//! Every committed dashboard preview (`dashboards/generated/*.svg`) opened
//! in headless Chromium and screenshotted: the picture must not be blank,
//! must carry text, and must show exactly as many panels as the dashboard's
//! JSON has, each at roughly its size.
//!
//! Panels are counted by colour: the renderer gives each drawn panel its own
//! fill (near-identical tints), so a panel that Chromium did not draw is a
//! fill missing from the screenshot. Anti-aliased edges and text cover part
//! of a panel, so a fill counts when it covers at least a third of its box.
//!
//! Chromium is Debian's `chromium` (scripts/install-tools.sh), or `$CHROMIUM`.
//! Without it the test is skipped, except under `CI`, where it fails.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;

fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("generated")
}

fn chromium() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .collect();
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("chromium not found (CI is set): run scripts/install-tools.sh")
        }
        None => {
            eprintln!("skipped: chromium not found (apt-get install chromium, or set CHROMIUM)");
            None
        }
    }
}

/// What the SVG says it draws: its size and each panel's fill and box size.
#[derive(Debug)]
struct Drawn {
    width: u32,
    height: u32,
    panels: Vec<(String, u32, u32)>,
}

fn number(e: &quick_xml::events::BytesStart<'_>, name: &str) -> u32 {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .and_then(|a| a.value.parse().ok())
        .unwrap_or_else(|| panic!("<{}> without a numeric {name}", e.name().as_ref()))
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name).ok().flatten().map(|a| a.value.into_owned())
}

fn drawn(svg: &str) -> Drawn {
    let mut reader = Reader::from_str(svg);
    let mut out = Drawn { width: 0, height: 0, panels: Vec::new() };
    let mut in_panel = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.name().as_ref() == "svg" => {
                out.width = number(&e, "width");
                out.height = number(&e, "height");
            }
            Ok(Event::Start(e)) if e.name().as_ref() == "g" => {
                in_panel = attribute(&e, "class").is_some_and(|c| c.split(' ').any(|c| c == "panel"));
            }
            Ok(Event::Empty(e)) if in_panel && e.name().as_ref() == "rect" => {
                let fill = attribute(&e, "fill").expect("a panel rect has a fill");
                out.panels.push((fill, number(&e, "width"), number(&e, "height")));
                in_panel = false;
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(err) => panic!("the preview is not well-formed XML at {}: {err}", reader.buffer_position()),
        }
    }
    out
}

/// `#e6eef8` -> `[0xe6, 0xee, 0xf8]`.
fn rgb(hex: &str) -> [u8; 3] {
    let byte = |i: usize| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).expect("a #rrggbb colour");
    [byte(0), byte(1), byte(2)]
}

/// Chromium's screenshot of `svg` at its own size, as RGB pixels.
fn screenshot(chromium: &Path, svg: &Path, width: u32, height: u32) -> Vec<[u8; 3]> {
    let scratch = std::env::temp_dir().join(format!(
        "dashboards-preview-{}-{}",
        std::process::id(),
        svg.file_stem().and_then(|s| s.to_str()).unwrap_or("svg")
    ));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let png_path = scratch.join("shot.png");
    let mut screenshot_arg = std::ffi::OsString::from("--screenshot=");
    screenshot_arg.push(&png_path);
    let mut profile_arg = std::ffi::OsString::from("--user-data-dir=");
    profile_arg.push(scratch.join("profile"));
    let output = Command::new(chromium)
        .args([
            "--headless",
            // Tests run as root in CI, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            // Exact colours and one pixel per SVG unit, so fills can be matched.
            "--force-device-scale-factor=1",
            "--force-color-profile=srgb",
            &format!("--window-size={width},{height}"),
        ])
        .arg(&screenshot_arg)
        .arg(&profile_arg)
        .arg(format!("file://{}", svg.display()))
        .output()
        .expect("chromium runs");
    let bytes = std::fs::read(&png_path).unwrap_or_else(|err| {
        panic!(
            "no screenshot of {} ({err}); chromium said:\n{}",
            svg.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a PNG of sane size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    assert_eq!((info.width, info.height), (width, height), "{}: screenshot size", svg.display());
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    buf[..info.buffer_size()].chunks_exact(channels).map(|px| [px[0], px[1], px[2]]).collect()
}

/// Panels of the dashboard JSON that are drawn: top-level, not row headers
/// (a collapsed row's panels are inside it and not drawn).
fn json_panel_count(json: &Path) -> usize {
    let text = std::fs::read_to_string(json).unwrap_or_else(|err| panic!("{}: {err}", json.display()));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", json.display()));
    value["panels"].as_array().map_or(0, |panels| panels.iter().filter(|p| p["type"] != "row").count())
}

#[test]
fn every_preview_renders_in_chromium_with_all_its_panels() {
    let Some(chromium) = chromium() else { return };
    let mut svgs: Vec<PathBuf> = std::fs::read_dir(generated_dir())
        .expect("dashboards/generated")
        .map(|e| e.expect("dashboards/generated entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    svgs.sort();
    let jsons = std::fs::read_dir(generated_dir())
        .expect("dashboards/generated")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json")))
        .count();
    assert!(!svgs.is_empty(), "no previews in dashboards/generated: run `cargo xtask gen`");
    assert_eq!(svgs.len(), jsons, "one preview per dashboard JSON");
    for svg in &svgs {
        let text = std::fs::read_to_string(svg).unwrap_or_else(|err| panic!("{}: {err}", svg.display()));
        let drawn = drawn(&text);
        let expected = json_panel_count(&svg.with_extension("json"));
        assert_eq!(drawn.panels.len(), expected, "{}: panels in the SVG vs the JSON", svg.display());

        let pixels = screenshot(&chromium, svg, drawn.width, drawn.height);
        let mut histogram: BTreeMap<[u8; 3], usize> = BTreeMap::new();
        for px in &pixels {
            *histogram.entry(*px).or_default() += 1;
        }
        let white = histogram.get(&[255, 255, 255]).copied().unwrap_or(0);
        assert!(white < pixels.len() / 2, "{}: mostly blank ({white} of {} pixels white)", svg.display(), pixels.len());
        let dark = pixels.iter().filter(|[r, g, b]| *r.max(g).max(b) < 120).count();
        assert!(dark > 500, "{}: no text drawn ({dark} dark pixels)", svg.display());

        let shown: Vec<&(String, u32, u32)> = drawn
            .panels
            .iter()
            .filter(|(fill, w, h)| histogram.get(&rgb(fill)).copied().unwrap_or(0) * 3 >= (*w as usize) * (*h as usize))
            .collect();
        assert_eq!(
            shown.len(),
            expected,
            "{}: panels visible in the screenshot (by fill) vs panels in the JSON; missing: {:?}",
            svg.display(),
            drawn.panels.iter().filter(|p| !shown.contains(p)).collect::<Vec<_>>()
        );
    }
}
