// Organization pickers: type a name, pick a suggestion, the id field is filled.
(function () {
  "use strict";
  function setup(picker) {
    var input = picker.querySelector("input[type=search]");
    var list = picker.querySelector(".suggestions");
    var target = picker.closest("form").querySelector("[name=" + picker.dataset.target + "]");
    var timer = null;
    if (!input || !list || !target) { return; }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { list.innerHTML = ""; return; }
      timer = setTimeout(function () {
        fetch(picker.dataset.suggest + "?q=" + encodeURIComponent(q), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (items) {
            list.innerHTML = "";
            items.forEach(function (item) {
              var li = document.createElement("li");
              var b = document.createElement("button");
              b.type = "button";
              b.textContent = item.name + (item.city ? " · " + item.city : "");
              b.addEventListener("click", function () {
                target.value = item.id;
                input.value = item.name;
                list.innerHTML = "";
              });
              li.appendChild(b);
              list.appendChild(li);
            });
          });
      }, 200);
    });
  }
  document.querySelectorAll(".picker[data-suggest]").forEach(setup);
})();
