// SIMULATION ONLY — served by `cashier serve`, never by a real host. It stands in for WeChat's
// client outside WeChat: the environment (official account, mini program web-view, phone
// browser, desktop), the payer's login, WeixinJSBridge's pay sheet, wx.miniProgram.navigateTo
// into the mini program's pay page (decoded by the real pages/pay/pay code), the MWEB page, the
// QR scan, and the 医保 mini programs. Each action goes through the simulator's control calls
// under /__shim/, so the payment itself takes the real path: WeChat (simulated) notifies the
// hospital's /notify endpoint, and the page shows what the engine says.
'use strict';

(function () {
  const APPIDS = { official_account: 'wxd930ea5d5a258f4f', mini_program: 'wx1f1e2d3c4b5a6978' };
  const LABELS = { official_account: '公众号', mini_program: '小程序 web-view', h5: '手机浏览器 (H5)', desktop: '电脑 (扫码)' };
  const params = new URLSearchParams(location.search);
  if (params.get('shim_env')) sessionStorage.setItem('cashierShimEnv', params.get('shim_env'));
  const env = sessionStorage.getItem('cashierShimEnv') || 'official_account';

  async function post(path, body) {
    const response = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || (data.message && data.message.zh) || 'shim call failed');
    return data;
  }

  function bar() {
    const div = document.createElement('div');
    div.id = 'shim-bar';
    const options = Object.keys(LABELS).map((key) => `<option value="${key}"${key === env ? ' selected' : ''}>${LABELS[key]}</option>`).join('');
    div.innerHTML = `⚠ 模拟微信客户端（仅 cashier serve）· 环境 <select id="shim-env">${options}</select>`;
    document.body.insertBefore(div, document.body.firstChild);
    div.querySelector('select').addEventListener('change', (event) => {
      sessionStorage.setItem('cashierShimEnv', event.target.value);
      location.reload();
    });
  }

  // The pay sheet: resolves to 'success', 'cancel' or 'fail'.
  function sheet(title) {
    const root = document.getElementById('sheet');
    root.innerHTML = `<div class="panel"><div>⚠ 模拟微信支付</div><h3>${title}</h3>
      <button data-outcome="success" id="shim-pay">支付</button>
      <button data-outcome="cancel" class="secondary" id="shim-cancel">取消</button>
      <button data-outcome="fail" class="secondary" id="shim-fail">失败</button></div>`;
    root.hidden = false;
    return new Promise((resolve) => {
      root.querySelectorAll('button').forEach((button) => button.addEventListener('click', () => {
        root.hidden = true;
        resolve(button.dataset.outcome);
      }));
    });
  }

  const ERR = { success: 'ok', cancel: 'cancel', fail: 'fail' };

  window.__shimEnvironment = () => env;
  window.__shim = {
    async login(currentEnv) {
      const app = currentEnv === 'mini_program' ? 'mini_program' : 'official_account';
      const { code } = await post('/__shim/login', { appid: APPIDS[app] });
      if (app === 'mini_program') {
        // The mini program's wx.login on launch, then its web-view opened with a one-time ticket.
        const { ticket } = await post('/api/login/mini', { app, code });
        return post('/api/login/ticket', { ticket });
      }
      return post('/api/login/oauth', { app, code });
    },
    openMweb(url, outTradeNo, done) {
      sheet('H5 支付（' + url.slice(0, 40) + '…）').then(async (outcome) => {
        await post('/__shim/pay', { out_trade_no: outTradeNo, outcome });
        done();
      });
    },
    showScan(outTradeNo) {
      const button = document.createElement('button');
      button.id = 'shim-scan';
      button.textContent = '⚠ 模拟手机扫码';
      document.getElementById('qr').appendChild(button);
      button.addEventListener('click', async () => {
        const outcome = await sheet('扫码支付');
        await post('/__shim/pay', { out_trade_no: outTradeNo, outcome });
      });
    },
    async medicalAuthorize(currentEnv) {
      const app = currentEnv === 'mini_program' ? 'mini_program' : 'official_account';
      const { auth_code: authCode } = await post('/__shim/medical-authorize', { appid: APPIDS[app] });
      return authCode;
    },
    openMedical(payUrl, done) {
      const medTransId = payUrl.split('medTransId=')[1] || '';
      sheet('医保支付（医保移动支付小程序）').then(async (outcome) => {
        await post('/__shim/medical-pay', { med_trans_id: medTransId, outcome });
        done();
      });
    },
  };

  if (env === 'official_account') {
    window.WeixinJSBridge = {
      invoke(name, params, callback) {
        const prepayId = String(params.package || '').replace('prepay_id=', '');
        sheet('微信支付').then(async (outcome) => {
          await post('/__shim/pay', { prepay_id: prepayId, outcome });
          callback({ err_msg: 'get_brand_wcpay_request:' + ERR[outcome] });
        });
      },
    };
  }
  if (env === 'mini_program') {
    window.__wxjs_environment = 'miniprogram';
    window.wx = {
      miniProgram: {
        // The mini program's pages/pay/pay: the real page code decodes the URL.
        navigateTo({ url }) {
          const query = Object.fromEntries(new URLSearchParams(url.split('?')[1] || ''));
          if (isMedicalJump(query)) {
            const target = decodeMedicalJump(query);
            window.__shim.openMedical(target.path, () => {});
            return;
          }
          const pay = decodePayParams(query);
          const prepayId = pay.package.replace('prepay_id=', '');
          sheet('小程序 wx.requestPayment').then((outcome) => post('/__shim/pay', { prepay_id: prepayId, outcome }));
        },
      },
    };
  }
  document.addEventListener('DOMContentLoaded', bar);
  if (document.readyState !== 'loading') bar();
})();
