/* Minimal stand-in for RequireJS, for pages that inline their libraries.
 * The attention views call `require.config({...})` and `requirejs(["jquery", "d3"], fn)`.
 * The libraries are inlined as plain <script> blocks before this one, so they are already
 * globals: this maps each module name to its global and never loads anything. */
(function (w) {
  "use strict";
  var globals = { jquery: "jQuery", d3: "d3" };
  function requirejs(deps, callback) {
    var mods = (deps || []).map(function (name) {
      var mod = w[globals[name] || name];
      if (!mod) { throw new Error("module '" + name + "' is not inlined in this page"); }
      return mod;
    });
    if (typeof callback === "function") { return callback.apply(w, mods); }
    return mods[0];
  }
  requirejs.config = function () { return requirejs; };
  w.requirejs = requirejs;
  w.require = requirejs;
})(window);
