// The mini program: it logs in on launch (wx.login → the hospital's /api/login/mini, which asks
// WeChat's jscode2session and binds the openid to the person's unionid) and keeps the one-time
// ticket the web-view page trades for its session cookie. The openid never leaves the server.
// Coming back from the 医保 pay mini program (scene 1038) changes nothing here: the web-view's
// result page asks the server, which asks WeChat.

var config = require('./config.js');

function login(wxApi, host, done) {
  wxApi.login({
    success: function (result) {
      wxApi.request({
        url: host + '/api/login/mini',
        method: 'POST',
        header: { 'Content-Type': 'application/json' },
        data: { app: 'mini_program', code: result.code },
        success: function (response) {
          if (response.statusCode === 200 && response.data && response.data.ticket) {
            done(null, response.data.ticket);
          } else {
            done(new Error((response.data && response.data.code) || 'login failed'));
          }
        },
        fail: function (error) { done(error); }
      });
    },
    fail: function (error) { done(error); }
  });
}

var appDefinition = {
  globalData: { ticket: null, waiting: [], returnedFromMedical: false },
  onLaunch: function () {
    var app = this;
    login(wx, config.HOST, function (error, ticket) {
      app.globalData.ticket = error ? null : ticket;
      var waiting = app.globalData.waiting;
      app.globalData.waiting = [];
      waiting.forEach(function (callback) { callback(error, ticket); });
    });
  },
  onShow: function (options) {
    // 1038: back from another mini program (the 医保 pay mini program). Only a hint.
    this.globalData.returnedFromMedical = !!options && options.scene === 1038;
  },
  // Calls back with a fresh ticket (each ticket is single-use).
  ticket: function (callback) {
    if (this.globalData.ticket) {
      var ticket = this.globalData.ticket;
      this.globalData.ticket = null;
      callback(null, ticket);
      return;
    }
    var app = this;
    app.globalData.waiting.push(callback);
    if (app.globalData.waiting.length === 1 && app.globalData.ticket === null) {
      login(wx, config.HOST, function (error, fresh) {
        var waiting = app.globalData.waiting;
        app.globalData.waiting = [];
        waiting.forEach(function (waiter) { waiter(error, fresh); });
      });
    }
  }
};

if (typeof App === 'function') {
  App(appDefinition);
}

if (typeof module !== 'undefined') {
  module.exports = { login: login, appDefinition: appDefinition };
}
