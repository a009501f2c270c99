// Apache ECharts, only the parts the dashboard draws (tree-shaken). This module: the core with the line and
// funnel charts, grid, tooltip, legend and the canvas renderer (what Analytics, the landing page, needs);
// chartsInsights.ts adds bar and pie for the insights builder and its dashboards, so the landing page does not
// carry them. Tooltips render on the canvas (renderMode richText): ECharts' HTML tooltips carry inline style
// attributes, which the page's Content-Security-Policy refuses.
import * as echarts from "echarts/core";
import { FunnelChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, FunnelChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export { echarts };
