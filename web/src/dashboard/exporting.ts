// Exports: the gateway answers a short-lived signed link (/exports/<token>, same origin) that the browser
// downloads; an export the API refuses shows its reason.
export function download(url: string): void {
  const a = document.createElement("a");
  a.href = url;
  a.rel = "noopener";
  a.download = "";
  document.body.appendChild(a);
  a.click();
  a.remove();
}
