// The index page holds the <web-view> with the hospital's H5 site, opened with a one-time
// login ticket (never the openid) so the pages know the payer without a login of their own.

var config = require('../../config.js');

// The web-view URL for a ticket (the ticket is opaque; it is encoded anyway).
function webViewUrl(host, ticket) {
  return host + '/?ticket=' + encodeURIComponent(ticket) + '#/';
}

if (typeof Page === 'function') {
  Page({
    data: { url: '', message: '登录中…' },
    onLoad: function () {
      var page = this;
      getApp().ticket(function (error, ticket) {
        if (error) {
          page.setData({ message: '登录失败，请重试' });
          return;
        }
        page.setData({ url: webViewUrl(config.HOST, ticket) });
      });
    }
  });
}

if (typeof module !== 'undefined') {
  module.exports = { webViewUrl: webViewUrl };
}
