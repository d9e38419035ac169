// The ANSI palette in web/src/outputs/outputs.css against the theme (web/src/theme.css): every
// colour readable (WCAG AA, 4.5:1) on --code-bg in the light and the dark theme, every
// background tint readable with --fg and with every palette colour; every class ansi_up emits
// has a rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const css = readFileSync(new URL('../src/outputs/outputs.css', here), 'utf8');
const themePath = new URL('../src/theme.css', here);
const theme = existsSync(themePath) ? readFileSync(themePath, 'utf8') : '';

// variables of the light :root block and of the dark (prefers-color-scheme) block
function vars(text) {
    const dark = text.indexOf('prefers-color-scheme: dark');
    const grab = (s) => Object.fromEntries([...s.matchAll(/(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{6})\b/g)].map((m) => [m[1], m[2]]));
    if (dark < 0) return { light: grab(text), dark: {} };
    const end = text.indexOf('}\n}', dark);
    return { light: grab(text.slice(0, dark)), dark: grab(text.slice(dark, end)) };
}

function luminance(hex) {
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
        .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function contrast(a, b) {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
}

const NAMES = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];
const own = vars(css);
const th = vars(theme);
// the theme's values, or the extremes the palette was designed for when there is no theme yet
const schemes = {
    light: { codeBg: [th.light['--code-bg'] || '#e8e8e8', '#ffffff'], fg: th.light['--fg'] || '#1f2328', pal: own.light },
    dark: { codeBg: [th.dark['--code-bg'] || '#333333', '#0d1117'], fg: th.dark['--fg'] || '#e6edf3', pal: { ...own.light, ...own.dark } },
};

for (const [scheme, s] of Object.entries(schemes)) {
    test(`ANSI colours meet 4.5:1 on --code-bg (${scheme})`, () => {
        let checked = 0;
        for (const n of NAMES) {
            for (const v of [`--ansi-${n}`, `--ansi-bright-${n}`]) {
                const c = s.pal[v];
                assert.ok(c, `${v} defined`);
                for (const bg of s.codeBg) {
                    const r = contrast(c, bg);
                    assert.ok(r >= 4.5, `${scheme} ${v} ${c} on ${bg}: ${r.toFixed(2)}`);
                    checked++;
                }
            }
        }
        assert.equal(checked, 32);
    });

    test(`ANSI background tints keep text readable (${scheme})`, () => {
        for (const b of NAMES) {
            const bg = s.pal[`--ansi-${b}-bg`];
            assert.ok(bg, `--ansi-${b}-bg defined`);
            assert.ok(contrast(s.fg, bg) >= 4.5, `${scheme} --fg on ${b}-bg: ${contrast(s.fg, bg).toFixed(2)}`);
            for (const f of NAMES) {
                const fg = s.pal[`--ansi-${f}`];
                assert.ok(contrast(fg, bg) >= 4.5, `${scheme} ${f} on ${b}-bg: ${contrast(fg, bg).toFixed(2)}`);
            }
        }
    });
}

test('every class ansi_up can emit has a rule', () => {
    for (const n of NAMES) {
        for (const cls of [`ansi-${n}-fg`, `ansi-bright-${n}-fg`, `ansi-${n}-bg`, `ansi-bright-${n}-bg`]) {
            assert.match(css, new RegExp(`\\.${cls}\\b[^{]*\\{[^}]*var\\(--ansi-`), cls);
        }
    }
});
