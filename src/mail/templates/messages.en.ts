import type { MailCatalogue } from './catalogue.ts';

/** English mail text: the reference catalogue other locales translate. */
export const en: MailCatalogue = {
  lang: 'en',
  greeting: 'Hello {name},',
  greetingWithoutName: 'Hello,',
  linkFallback: 'If the button does not work, copy this address into your browser:',
  footer: 'Do not forward this message: the link in it is personal. Sent by {product}, {issuer}',
  duration: {
    minutesOne: '1 minute',
    minutesOther: '{count} minutes',
    hoursOne: '1 hour',
    hoursOther: '{count} hours',
    daysOne: '1 day',
    daysOther: '{count} days',
  },
  kinds: {
    email_verification: {
      subject: '{product}: confirm your email address',
      preheader: 'Confirm your email address to finish setting up your account.',
      intro: 'Please confirm that this is your email address for your {product} account.',
      action: 'Confirm email address',
      expiry: 'This link expires in {duration} and works once.',
      notYou: 'If you did not create an account, you can ignore this email.',
    },
    password_reset: {
      subject: '{product}: reset your password',
      preheader: 'Someone asked to reset the password of your account.',
      intro: 'We received a request to reset the password of your {product} account.',
      action: 'Choose a new password',
      expiry: 'This link expires in {duration} and works once. You will still need your second factor if you set one up.',
      notYou: 'If you did not ask for this, ignore this email: your password stays unchanged.',
    },
    magic_link: {
      subject: '{product}: your sign-in link',
      preheader: 'Use this link to sign in.',
      intro: 'Use the button below to sign in to {product}.',
      action: 'Sign in',
      expiry: 'This link expires in {duration} and works once.',
      note: 'Open it in the same browser where you asked for it.',
      notYou: 'If you did not ask to sign in, you can ignore this email.',
    },
    email_change: {
      subject: '{product}: confirm your new email address',
      preheader: 'Confirm the new email address of your account.',
      intro: 'Please confirm that this address should become the email address of your {product} account.',
      action: 'Confirm new email address',
      expiry: 'This link expires in {duration} and works once.',
      notYou: 'If you did not ask for this change, ignore this email: nothing changes without this confirmation.',
    },
    invitation: {
      subject: '{product}: you are invited to join {tenant}',
      preheader: 'Accept the invitation to join {tenant}.',
      intro: '{inviter} invited you to join {tenant} on {product}.',
      introWithoutInviter: 'You have been invited to join {tenant} on {product}.',
      action: 'Accept invitation',
      expiry: 'This invitation expires in {duration}.',
      notYou: 'If you do not know why you received this, you can ignore this email.',
    },
  },
};
