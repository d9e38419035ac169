// renderMarkdown / renderLatex (web/src/outputs/markdown.js): marked + KaTeX + DOMPurify, with
// KaTeX imported only when a text has math. The first test must stay first: it checks that
// nothing has loaded KaTeX in this process yet.
import { dom } from './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { renderMarkdown, renderLatex, katexState, matchMath, splitMath, loadMarkdown } = await import('../src/outputs/markdown.js');
const { document } = dom.window;

const el = () => document.createElement('div');

test('Markdown without math renders synchronously (once marked is loaded) and does not import KaTeX', async () => {
    await loadMarkdown();
    const d = el();
    const p = renderMarkdown('# Title\n\nSome *text*, a price of $5 and $10, `code $x$`, and\n\n```\n$$not math$$\n```\n', d);
    // filled before the promise settles: no await needed for math-free text
    assert.equal(d.querySelector('h1').textContent, 'Title');
    await p;
    assert.equal(d.querySelector('em').textContent, 'text');
    assert.match(d.textContent, /a price of \$5 and \$10/);
    assert.equal(d.querySelector('code').textContent, 'code $x$');
    assert.equal(d.querySelector('pre code').textContent, '$$not math$$\n');
    assert.equal(d.querySelector('.katex'), null);
    assert.deepEqual(katexState(), { requested: false, loaded: false });
    assert.ok(d.classList.contains('rendered-markdown'));
    assert.equal(document.querySelector('link[data-katex-css]'), null);
});

test('math in all four delimiters is typeset by KaTeX, loaded on first use', async () => {
    const d = el();
    await renderMarkdown(
        'Inline $a_1 + b_1$ and \\(x^2\\).\n\n$$\\int_0^1 f(x)\\,dx$$\n\nand \\[\\sum_i i\\]\n\n' +
            '\\begin{align}a &= b\\end{align}\n\nText with $x$ inline $$y$$ display.',
        d,
    );
    assert.deepEqual(katexState(), { requested: true, loaded: true });
    const all = d.querySelectorAll('.katex');
    assert.equal(all.length, 7, d.innerHTML.slice(0, 500));
    assert.equal(d.querySelectorAll('.katex-display').length, 4);
    // underscores inside math did not become emphasis
    assert.equal(d.querySelector('em'), null);
    // MathML for screen readers, without the TeX source leaking into it
    assert.ok(d.querySelector('math msub'));
    assert.ok(!d.querySelector('.katex-mathml').textContent.includes('a_1'));
    const link = document.querySelector('link[data-katex-css]');
    assert.ok(link, 'katex.min.css is added');
    assert.equal(link.getAttribute('href'), 'static/katex/katex.min.css');
});

test('bad TeX does not throw: KaTeX shows the error in place', async () => {
    const d = el();
    await renderMarkdown('ok $\\frac{1}{$ and $\\unknowncommand$ end', d);
    assert.match(d.textContent, /ok .* end/);
    assert.ok(d.querySelector('.katex-error'), d.innerHTML);
});

test('Markdown is sanitised and links open safely', async () => {
    const d = el();
    await renderMarkdown(
        '[ext](https://example.com) [rel](other.ipynb) [js](javascript:alert(1))\n\n' +
            '<img src=x onerror="alert(1)"><script>alert(2)</script>\n\n- [x] done\n- [ ] todo',
        d,
    );
    const [ext, rel, js] = d.querySelectorAll('a');
    assert.equal(ext.getAttribute('target'), '_blank');
    assert.equal(ext.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(rel.getAttribute('target'), null);
    assert.ok(!/javascript/i.test(js?.getAttribute('href') || ''));
    assert.equal(d.querySelector('script'), null);
    assert.equal(d.querySelector('img').getAttribute('onerror'), null);
    assert.equal(d.querySelector('input'), null);
    assert.deepEqual([...d.querySelectorAll('.md-task')].map((s) => s.getAttribute('aria-label')), ['done', 'not done']);
});

test('arrays of lines are accepted', async () => {
    const d = el();
    await renderMarkdown(['# A\n', '\n', 'b'], d);
    assert.equal(d.querySelector('h1').textContent, 'A');
});

test('matchMath follows the pandoc rules for $', () => {
    assert.equal(matchMath('$x$ y').tex, 'x');
    assert.equal(matchMath('$$x$$').display, true);
    assert.equal(matchMath('$ x$'), null, 'space after the opening $');
    assert.equal(matchMath('$x $'), null, 'space before the closing $');
    assert.equal(matchMath('$5 and $10'), null, 'digit after the closing $');
    assert.equal(matchMath('$a\n\nb$'), null, 'blank line inside');
    assert.equal(matchMath('$\\$x$').tex, '\\$x', 'escaped dollar inside');
    assert.equal(matchMath('\\(a\\)').display, false);
    assert.equal(matchMath('\\[a\\]').display, true);
    assert.equal(matchMath('\\begin{equation*}a\\end{equation*}').display, true);
    assert.deepEqual(splitMath('cost \\$5, area $r^2$').map((p) => p.tex ?? p.text), ['cost \\$5, area ', 'r^2']);
});

test('renderLatex: a whole formula or bare TeX is display math; mixed text keeps its text', async () => {
    const a = el();
    await renderLatex('$$\\frac{a}{b}$$', a);
    assert.ok(a.querySelector('.katex-display .mfrac'));
    const b = el();
    await renderLatex('\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}', b);
    assert.ok(b.querySelector('.katex-display'));
    const c = el();
    await renderLatex('The value is $\\displaystyle x^{2}$ <b>not html</b>', c);
    assert.equal(c.querySelectorAll('.katex').length, 1);
    assert.equal(c.querySelector('.katex-display'), null);
    assert.equal(c.querySelector('b'), null, 'text around the math is escaped');
    assert.match(c.textContent, /The value is .*<b>not html<\/b>/);
});
