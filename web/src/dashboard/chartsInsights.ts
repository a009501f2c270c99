// The insights builder's charts: ECharts as charts.ts registers it, plus bar (and stacked bar) and pie.
import { BarChart, PieChart } from "echarts/charts";
import { echarts } from "./charts";

echarts.use([BarChart, PieChart]);

export { echarts };
