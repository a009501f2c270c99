// Apache ECharts, only the parts the dashboard draws (tree-shaken: core, line, bar, pie and funnel charts, grid,
// tooltip, legend, canvas). Tooltips render on the canvas (renderMode richText): ECharts' HTML tooltips
// carry inline style attributes, which the page's Content-Security-Policy refuses.
import * as echarts from "echarts/core";
import { BarChart, FunnelChart, LineChart, PieChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, BarChart, PieChart, FunnelChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export { echarts };
