// The hospital's H5 pages: order list, order detail with pay confirmation, pay (per
// environment), result (polling the server), payment history, and a staff refund form. The
// result shown is always the server's (the engine's), never the client's word.
'use strict';

const view = document.getElementById('view');

function yuan(fen) { return '¥' + (fen / 100).toFixed(2); }
function esc(text) { return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c])); }

const STATES = { Created: '待支付', Paying: '待支付', Paid: '已支付', PartiallyRefunded: '部分退款', Refunded: '已退款', Closed: '已关闭' };

// Where the page runs, as real pages detect it.
function environment() {
  if (window.__shimEnvironment) return window.__shimEnvironment();
  const ua = navigator.userAgent.toLowerCase();
  if (ua.includes('micromessenger')) {
    return window.__wxjs_environment === 'miniprogram' ? 'mini_program' : 'official_account';
  }
  return /android|iphone|ipad|mobile/.test(ua) ? 'h5' : 'desktop';
}

// The app the payer logs in through, per environment.
function loginApp(env) { return env === 'mini_program' ? 'mini_program' : 'official_account'; }

async function api(method, path, body, headers) {
  const options = { method, headers: Object.assign({}, headers || {}), credentials: 'same-origin' };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((data.message && data.message.zh) || '请求失败');
    error.code = data.code; error.status = response.status;
    throw error;
  }
  return data;
}

async function ensureLogin() {
  try {
    const me = await api('GET', '/api/me');
    // A session of another app (the payer opened the page elsewhere) is not this app's openid.
    if (me.app === loginApp(environment())) return me;
  } catch (error) { if (error.status !== 401) throw error; }
  const params = new URLSearchParams(location.search);
  const clean = () => history.replaceState(null, '', location.pathname + location.hash);
  if (params.get('ticket')) {
    // Inside the mini program's web-view: the mini program logged in and passed a one-time ticket.
    const me = await api('POST', '/api/login/ticket', { ticket: params.get('ticket') });
    clean();
    return me;
  }
  if (params.get('code')) {
    // Back from the official account's OAuth2 redirect.
    const me = await api('POST', '/api/login/oauth', { app: 'official_account', code: params.get('code') });
    clean();
    return me;
  }
  if (window.__shim) return window.__shim.login(environment());
  view.innerHTML = '<div class="card">请在微信中打开本页面登录。</div>';
  throw new Error('not logged in');
}

async function showOrders() {
  const [catalogue, mine] = await Promise.all([api('GET', '/api/catalogue'), api('GET', '/api/orders')]);
  const items = catalogue.items.map((item) =>
    `<button class="secondary" data-item="${esc(item.item)}">${esc(item.name)} ${yuan(item.price_fen)}</button>`).join('');
  const orders = mine.orders.map((order) => `
    <div class="card order" data-order="${esc(order.order_no)}">
      <div>${esc(order.description)} <span class="state ${esc(order.state)}">${STATES[order.state] || esc(order.state)}</span></div>
      <div class="amount">${yuan(order.amount_fen)}</div>
      <a href="#/order/${esc(order.order_no)}">查看</a>
    </div>`).join('') || '<p class="muted">暂无订单</p>';
  view.innerHTML = `<div class="card"><div>新建缴费单</div>${items}</div><h2>我的订单</h2>${orders}`;
  view.querySelectorAll('[data-item]').forEach((button) => button.addEventListener('click', async () => {
    const order = await api('POST', '/api/orders', { item: button.dataset.item });
    location.hash = '#/order/' + order.order_no;
  }));
}

function medicalEntry(env) { return env === 'mini_program' ? 'medical_mini_program' : 'medical_official_account'; }
const ENTRIES = { official_account: 'official_account', mini_program: 'mini_program', h5: 'h5', desktop: 'native' };

async function showOrder(orderNo) {
  const order = await api('GET', '/api/orders/' + encodeURIComponent(orderNo));
  const env = environment();
  const payable = order.state === 'Created' || order.state === 'Paying';
  const inWeChat = env === 'official_account' || env === 'mini_program';
  view.innerHTML = `
    <div class="card">
      <div>${esc(order.description)}</div>
      <div class="amount">${yuan(order.amount_fen)}</div>
      <div>订单号 <code id="order-no">${esc(order.order_no)}</code></div>
      <div>状态 <span class="state ${esc(order.state)}" id="order-state">${STATES[order.state] || esc(order.state)}</span></div>
    </div>
    ${payable ? `<div class="card"><div>确认支付 ${yuan(order.amount_fen)}</div>
      <button id="pay">微信支付</button>
      ${inWeChat ? '<button id="pay-medical" class="secondary">医保支付</button>' : ''}
      <p class="muted">环境: ${esc(env)}</p></div>` : ''}
    <div id="pay-area"></div>`;
  const payButton = document.getElementById('pay');
  if (payButton) payButton.addEventListener('click', () => pay(order, ENTRIES[env]));
  const medicalButton = document.getElementById('pay-medical');
  if (medicalButton) medicalButton.addEventListener('click', () => payMedical(order, env));
}

function goResult(orderNo) { location.hash = '#/result/' + orderNo; }

async function report(orderNo, outTradeNo, result) {
  try { await api('POST', `/api/orders/${orderNo}/client-result`, { out_trade_no: outTradeNo, result }); } catch (error) { /* a hint only */ }
}

async function pay(order, entry) {
  const area = document.getElementById('pay-area');
  let started;
  try {
    started = await api('POST', `/api/orders/${order.order_no}/pay`, { entry });
  } catch (error) {
    area.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    return;
  }
  const client = started.client;
  const outTradeNo = started.out_trade_no;
  if (client.kind === 'jsapi') {
    WeixinJSBridge.invoke('getBrandWCPayRequest', client.params, async (res) => {
      const result = res.err_msg.endsWith(':ok') ? 'ok' : res.err_msg.endsWith(':cancel') ? 'cancel' : 'fail';
      await report(order.order_no, outTradeNo, result);
      if (result === 'ok') goResult(order.order_no); else area.innerHTML = '<p class="muted">支付未完成，可再次支付。</p>';
    });
  } else if (client.kind === 'mini_program') {
    // The mini program's pay page calls wx.requestPayment with what the URL carries.
    wx.miniProgram.navigateTo({ url: client.bridge_url });
    goResult(order.order_no);
  } else if (client.kind === 'mweb') {
    if (window.__shim) { window.__shim.openMweb(client.mweb_url, outTradeNo, () => goResult(order.order_no)); }
    else { location.href = client.mweb_url; }
  } else if (client.kind === 'native') {
    area.innerHTML = `<div class="card"><div>请使用微信扫一扫</div><div id="qr">
      <img id="qr-image" alt="${esc(client.code_url)}" src="/qr.svg?text=${encodeURIComponent(client.code_url)}"><br>
      <code>${esc(client.code_url)}</code></div>
      <p class="muted">支付完成后本页自动更新。</p></div>`;
    if (window.__shim) window.__shim.showScan(outTradeNo);
    // The attempt exists now (Paying): wait for the engine to see it paid or closed.
    pollUntilSettled(order.order_no, 'Paying', (record) => {
      if (record.state !== 'Created' && record.state !== 'Paying') goResult(order.order_no);
    });
  }
}

async function payMedical(order, env) {
  const area = document.getElementById('pay-area');
  try {
    // 医保电子凭证: the auth mini program returns an authCode (the shim stands in for it here).
    const authCode = window.__shim ? await window.__shim.medicalAuthorize(env) : null;
    if (!authCode) { area.innerHTML = '<p class="muted">已取消医保授权。</p>'; return; }
    const started = await api('POST', `/api/orders/${order.order_no}/medical`, { entry: medicalEntry(env), auth_code: authCode });
    const split = started.split;
    area.innerHTML = `<div class="card">统筹 ${yuan(split.fund_fen)} · 个人账户 ${yuan(split.account_fen)} · 自费 ${yuan(split.cash_fen)}</div>`;
    const client = started.client;
    if (env === 'mini_program') {
      wx.miniProgram.navigateTo({ url: client.bridge_url });
    } else if (window.__shim) {
      window.__shim.openMedical(client.pay_url, () => goResult(order.order_no));
      return;
    } else {
      location.href = client.pay_url;
      return;
    }
    goResult(order.order_no);
  } catch (error) {
    area.innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }
}

// Long-polls the order's status until it differs from `since`, calling `seen` with each record.
async function pollUntilSettled(orderNo, since, seen) {
  let state = since;
  for (let round = 0; round < 60 && location.hash.includes(orderNo); round += 1) {
    const record = await api('GET', `/api/orders/${orderNo}?wait_ms=8000&since=${encodeURIComponent(state)}`);
    // The payer may have moved on while the poll waited: never draw over another page.
    if (!location.hash.includes(orderNo)) return null;
    seen(record);
    state = record.state;
    if (state !== 'Created' && state !== 'Paying') return record;
  }
  return null;
}

async function showResult(orderNo) {
  const order = await api('GET', '/api/orders/' + encodeURIComponent(orderNo));
  const render = (record) => {
    const paid = ['Paid', 'PartiallyRefunded', 'Refunded'].includes(record.state);
    view.innerHTML = `<div class="card"><div class="amount">${yuan(record.amount_fen)}</div>
      <div id="result" class="state ${esc(record.state)}">${paid ? '支付成功' : record.state === 'Closed' ? '订单已关闭' : '正在确认支付结果…'}</div>
      <p class="muted">结果以医院收到的微信支付通知或查询为准。</p>
      <a href="#/order/${esc(record.order_no)}">返回订单</a></div>`;
  };
  render(order);
  await pollUntilSettled(orderNo, order.state, render);
}

async function showHistory() {
  const mine = await api('GET', '/api/orders');
  const rows = mine.orders.map((order) => {
    const attempts = order.attempts.map((attempt) => `<li>${esc(attempt.trade_type)} · ${esc(attempt.entry)} · ${esc(attempt.state)}</li>`).join('');
    const refunds = order.refunds.map((refund) => `<li>退款 ${yuan(refund.amount_fen)} · ${esc(refund.state)}</li>`).join('');
    return `<div class="card history" data-order="${esc(order.order_no)}"><div>${esc(order.description)} ${yuan(order.amount_fen)}
      <span class="state ${esc(order.state)}">${STATES[order.state] || esc(order.state)}</span></div><ul>${attempts}${refunds}</ul></div>`;
  }).join('') || '<p class="muted">暂无记录</p>';
  view.innerHTML = `<h2>缴费记录</h2>${rows}`;
}

function showStaff() {
  view.innerHTML = `<div class="card"><h2>退款（工作人员）</h2>
    <p><input id="staff-token" placeholder="工作人员凭证" size="40"></p>
    <p><input id="staff-order" placeholder="订单号" size="40"></p>
    <p><input id="staff-amount" placeholder="金额（分）" size="12"> <input id="staff-reason" placeholder="原因" value="退号"></p>
    <button id="staff-refund">退款</button><p id="staff-result"></p></div>`;
  document.getElementById('staff-refund').addEventListener('click', async () => {
    const out = document.getElementById('staff-result');
    const orderNo = document.getElementById('staff-order').value.trim();
    const amount = Number(document.getElementById('staff-amount').value);
    try {
      const answer = await api('POST', `/api/staff/orders/${encodeURIComponent(orderNo)}/refund`,
        { key: 'staff-' + orderNo + '-' + amount, amount_fen: amount, reason: document.getElementById('staff-reason').value },
        { Authorization: 'Bearer ' + document.getElementById('staff-token').value.trim() });
      out.textContent = '已受理: ' + answer.out_refund_no + ' (' + answer.outcome + ')';
    } catch (error) { out.innerHTML = `<span class="error">${esc(error.message)}</span>`; }
  });
}

async function route() {
  try {
    const hash = location.hash || '#/';
    if (hash.startsWith('#/staff')) { showStaff(); return; }
    await ensureLogin();
    if (hash.startsWith('#/order/')) await showOrder(decodeURIComponent(hash.slice(8)));
    else if (hash.startsWith('#/result/')) await showResult(decodeURIComponent(hash.slice(9)));
    else if (hash.startsWith('#/history')) await showHistory();
    else await showOrders();
  } catch (error) {
    if (error.message !== 'not logged in') view.innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }
}

window.addEventListener('hashchange', route);
route();
