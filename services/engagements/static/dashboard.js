"use strict";
// Follows the dashboard's figures: the server renders them and sends each new rendering over server-sent
// events; this only puts it in place. Without JavaScript the page shows the figures as loaded.
(() => {
  const figures = document.getElementById("figures");
  const connection = document.getElementById("connection");
  const source = new EventSource(figures.dataset.stream);
  source.addEventListener("figures", (event) => {
    figures.innerHTML = event.data;
    connection.textContent = "live";
  });
  source.addEventListener("error", () => { connection.textContent = "reconnecting"; });
})();
