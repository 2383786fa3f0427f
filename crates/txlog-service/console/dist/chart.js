// A stacked bar chart in inline SVG (no chart library): one bar a minute, one colour an outcome.
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 720;
const HEIGHT = 220;
const LEFT = 40;
const BOTTOM = 24;
function svg(tag, attributes) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes))
        element.setAttribute(name, String(value));
    return element;
}
function label(x, y, text, anchor) {
    const element = svg('text', { x, y, 'text-anchor': anchor, class: 'axis' });
    element.textContent = text;
    return element;
}
function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}
/** The chart; its title and description say in words what it shows. */
export function barChart(series, title) {
    const n = series.minutes.length;
    const totals = series.minutes.map((_, i) => [...series.counts.values()].reduce((sum, counts) => sum + (counts[i] ?? 0), 0));
    const max = Math.max(1, ...totals);
    const plotWidth = WIDTH - LEFT;
    const plotHeight = HEIGHT - BOTTOM;
    const barWidth = plotWidth / Math.max(1, n);
    const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': 'chart-title', class: 'chart' });
    const titleElement = svg('title', { id: 'chart-title' });
    titleElement.textContent = title;
    chart.append(titleElement);
    chart.append(svg('line', { x1: LEFT, y1: plotHeight, x2: WIDTH, y2: plotHeight, class: 'axis-line' }));
    chart.append(label(LEFT - 4, 12, String(max), 'end'), label(LEFT - 4, plotHeight, '0', 'end'));
    if (n > 0) {
        chart.append(label(LEFT, HEIGHT - 6, clock(series.minutes[0] ?? 0), 'start'));
        chart.append(label(WIDTH, HEIGHT - 6, clock(series.minutes[n - 1] ?? 0), 'end'));
    }
    for (let i = 0; i < n; i++) {
        let top = plotHeight;
        for (const [outcome, counts] of series.counts) {
            const count = counts[i] ?? 0;
            if (count === 0)
                continue;
            const height = (count / max) * (plotHeight - 8);
            top -= height;
            chart.append(svg('rect', {
                x: LEFT + i * barWidth, y: top, width: Math.max(barWidth - 1, 0.5), height,
                class: `bar outcome-${outcome}`,
            }));
        }
    }
    return chart;
}
